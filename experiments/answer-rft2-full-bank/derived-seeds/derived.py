"""The round-2 answer agent over its SFT seeds (0, 1, 2; the same 31 teacher targets), on all of conv-30
(validation) and all of dev-test conv-41 and conv-42 (the untrained manager's full banks), and the two
dev-test conversations pooled (351 questions).

    PYTHONPATH=. .venv/bin/python experiments/answer-rft2-full-bank/derived-seeds/derived.py > experiments/answer-rft2-full-bank/derived-seeds/derived.json

Each seed's run is paired with the untrained pipeline on the same questions (the untrained rows are
the same in every run of a conversation: checked). The seed-mean system answers each question with the
mean F1 of the seeds, so its interval is over questions with the seed noise averaged out.
"""

import json
from pathlib import Path

from benchmarks.pool import compare_seeds, question_rows, run_dir

SEEDS = {0: "rft2-answer-c26full", 1: "rft2-answer-c26full-seed1", 2: "rft2-answer-c26full-seed2"}


def rows(run: Path, system: str) -> dict[tuple[str, int], float]:
    return {key: r["f1"] for key, r in question_rows([run], system).items()}


out = {}
for label, conversations in (
    ("conv30", ("conv30",)),
    ("conv41", ("conv41",)),
    ("conv42", ("conv42",)),
    ("dev-test conv41 + conv42", ("conv41", "conv42")),
):
    # seed -> its runs over the conversations (a seed counts once it ran on all of them)
    seeds = {seed: [run_dir(f"{name}-{c}") for c in conversations] for seed, name in SEEDS.items()}
    seeds = {seed: runs for seed, runs in seeds.items() if all(run.exists() for run in runs)}
    if 0 not in seeds:
        continue
    for runs in seeds.values():
        for run, base_run in zip(runs, seeds[0], strict=True):
            assert rows(run, "edgemem") == rows(base_run, "edgemem"), "the untrained rows differ between runs"
    out[label] = compare_seeds(seeds, seeds[0])
print(json.dumps(out, indent=2))
