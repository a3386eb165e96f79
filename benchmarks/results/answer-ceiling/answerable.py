"""Why the round-2 answer agent gains on conv-30 and conv-41 but not on conv-42: how often the memories
it is shown (5 per speaker + 5 raw turns, the harness's setting) hold a content word of the gold answer
at all ("answerable", the rule of `training --answerable-only`), and the paired gain on each part.

    PYTHONPATH=. .venv/bin/python benchmarks/results/answer-ceiling/answerable.py \
      > benchmarks/results/answer-ceiling/answerable.json

The prompts are rendered as the runtime and `training.data` render them, over the untrained manager's
full bank of each conversation under ~/.cache/edgemem/banks (the banks the committed runs answered
from), and checked with `training.common.answerable`; no answer is generated. The per-question flags
are written into the JSON, so the gains can be recomputed from committed files alone.
"""

import json
from pathlib import Path

from benchmarks.scoring import paired_delta
from edgemem import Memory, MemoryConfig
from edgemem.conversation import bank_file, load_locomo
from edgemem.metrics import tokens
from training.common import answerable
from training.data import answer_examples

RESULTS = Path(__file__).parent.parent
DATA = Path(__file__).resolve().parents[3].parent / "shared/data/locomo/locomo_dev.json"
BANKS = Path.home() / ".cache/edgemem/banks"
RUNS = {"conv-30": "conv30", "conv-41": "conv41", "conv-42": "conv42"}
SEEDS = ["rft2-answer-c26full", "rft2-answer-c26full-seed1", "rft2-answer-c26full-seed2"]


def rows(run: str, system: str) -> dict[int, dict]:
    lines = (RESULTS / run / "predictions.jsonl").read_text().splitlines()
    return {r["qid"]: r for r in map(json.loads, lines) if r["system"] == system}


def precision_recall(runs: list[dict[int, dict]], qids: list[int]) -> dict[str, float]:
    """Mean token precision and recall against gold (the two halves of token-set F1) over runs x questions."""
    p = r = 0.0
    for run in runs:
        for q in qids:
            pred, gold = set(tokens(run[q]["prediction"])), set(tokens(str(run[q]["gold"])))
            hit = len(pred & gold)
            p += hit / len(pred) if pred else 0.0
            r += hit / len(gold) if gold else 0.0
    n = len(runs) * len(qids)
    return {"precision": round(100 * p / n, 1), "recall": round(100 * r / n, 1)}


def answerable_flags(conv, model: str = "qwen2.5-coder-0.5b") -> list[bool]:
    """Per question: does the prompt the runtime renders (training.data's answer examples) hold a gold word?"""
    # the harness's settings (its default --model, --n-ctx); the bank name hashes the model and manager settings
    config = MemoryConfig(model=model, n_ctx=8192, answer_k=5, answer_turns_k=5)
    bank = bank_file(BANKS, conv.sample_id, config)
    if not bank.exists():
        raise SystemExit(f"{bank} is missing. Fix: python -m benchmarks.locomo --conversations {conv.sample_id}")
    mem = Memory(bank, user=conv.sample_id, config=config)
    try:
        return [answerable(example) for example in answer_examples(mem, conv)]
    finally:
        mem.close()


convs = {c.sample_id: c for c in load_locomo(DATA)}
out: dict[str, object] = {}
for conv_id, short in RUNS.items():
    flags = answerable_flags(convs[conv_id])
    base = rows(f"{SEEDS[0]}-{short}", "edgemem")
    assert len(base) == len(flags), (conv_id, len(base), len(flags))
    seeds = [rows(f"{s}-{short}", "trained") for s in SEEDS]
    mean = {q: sum(s[q]["f1"] for s in seeds) / len(seeds) for q in base}
    part = {}
    for name, keep in (("answerable", True), ("not answerable", False)):
        qids = [q for q in sorted(base) if flags[q] == keep]
        part[name] = {
            "n": len(qids),
            "untrained_f1": round(100 * sum(base[q]["f1"] for q in qids) / max(len(qids), 1), 1),
            "seed_mean_f1": round(100 * sum(mean[q] for q in qids) / max(len(qids), 1), 1),
            "seed_mean_vs_untrained": paired_delta([mean[q] for q in qids], [base[q]["f1"] for q in qids]),
            "untrained_tokens": precision_recall([base], qids),
            "seeds_tokens": precision_recall(seeds, qids),
            "gold_tokens": round(sum(len(set(tokens(str(base[q]["gold"])))) for q in qids) / max(len(qids), 1), 2),
            "answer_words": {
                "untrained": round(sum(len(base[q]["prediction"].split()) for q in qids) / max(len(qids), 1), 1),
                "seeds": round(
                    sum(len(s[q]["prediction"].split()) for s in seeds for q in qids) / max(3 * len(qids), 1), 1
                ),
            },
        }
    out[conv_id] = {
        "questions": len(flags),
        "answerable_share": round(sum(flags) / len(flags), 3),
        **part,
        "flags": [int(f) for f in flags],
    }
# conv-30 over trained managers' whole-conversation banks (f1-strict: 797 memories, session 14; f1-probes:
# session 15): machine-local manifests and banks, skipped where missing
for reward, export in (("f1-strict", "grpo-manager-strict70-c26full"), ("f1-probes", "grpo-manager-probes-c26full")):
    manifest = Path(__file__).resolve().parents[3] / f"exports/{export}/manifest.json"
    if manifest.exists():
        flags = answerable_flags(convs["conv-30"], str(manifest))
        out[f"conv-30 over the {reward} manager's bank"] = {
            "questions": len(flags),
            "answerable_share": round(sum(flags) / len(flags), 3),
        }
print(json.dumps(out, indent=1))
