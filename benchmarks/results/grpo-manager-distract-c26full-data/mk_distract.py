"""runs/data-mgr-distract = runs/data-mgr-full's evidence examples + 60 distractor turns per conversation.

    PYTHONPATH=. .venv/bin/python benchmarks/results/grpo-manager-distract-c26full-data/mk_distract.py

The same as `python -m training.data --agents manager --distractors 60 --answer-k 5 --answer-turns-k 5
--threads 1 --out runs/data-mgr-distract`, without re-running the manager on the 309 evidence turns
(runs/data-mgr-full was built by that command without --distractors; the banks are cached)."""

import json
from pathlib import Path

from edgemem.conversation import find_conversation
from training.data import DataArgs, build_bank, distractor_examples, write_jsonl

args = DataArgs(answer_k=5, answer_turns_k=5, threads=1, distractors=60, out=Path("runs/data-mgr-distract"))
for split, sample_id in (("train", args.train), ("val", args.val)):
    conv = find_conversation(args.data, sample_id)
    mem = build_bank(args, conv)
    lines = Path(f"runs/data-mgr-full/manager_{split}.jsonl").read_text().splitlines()
    evidence = [json.loads(line) | {"evidence_turn": True} for line in lines]
    distractors = distractor_examples(mem, conv, args.distractors, args.seed)
    write_jsonl(args.out / f"manager_{split}.jsonl", evidence + distractors)
    print(split, len(evidence), "evidence +", len(distractors), "distractors", flush=True)
    mem.close()
