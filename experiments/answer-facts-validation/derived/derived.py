"""Paired F1 differences of the committed runs of this experiment: on the tuning conversations (conv-26 +
conv-30, val-k3/ and val-k0/) the defaults' 3 memories per speaker + 10 turns against turns only and
against rag-hybrid; on conv-41 and conv-42 (test conversations, reported, not used for the choice) the
same, from benchmarks/results/accuracy-conv41-plain, accuracy-conv42-plain, c41-k0/ and c42-k0/. 95 % bootstrap intervals over questions.

    PYTHONPATH=. .venv/bin/python experiments/answer-facts-validation/derived/derived.py > experiments/answer-facts-validation/derived/derived.json
"""

import json
import statistics
from pathlib import Path

from benchmarks.pool import question_rows, run_dir
from benchmarks.scoring import paired_delta

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks/results"


def summary(rows: dict) -> dict:
    return {
        "n": len(rows),
        "f1": round(100 * statistics.fmean(r["f1"] for r in rows.values()), 2),
        "evidence_recall": round(
            statistics.fmean(r["evidence_recall"] for r in rows.values() if r["evidence_recall"] is not None), 3
        ),
        "prompt_tokens_p50": statistics.median(r["prompt_tokens"] for r in rows.values()),
        "answer_p50_s": round(statistics.median(r["latency_s"] for r in rows.values()), 2),
    }


def compare(systems: dict[str, dict], pairs: list[tuple[str, str]]) -> dict:
    keys = sorted(set.intersection(*(set(s) for s in systems.values())))
    out: dict = {"systems": {name: summary({k: s[k] for k in keys}) for name, s in systems.items()}}
    for a, b in pairs:
        d = paired_delta([systems[a][k]["f1"] for k in keys], [systems[b][k]["f1"] for k in keys])
        out[f"{a} vs {b}"] = {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()}
    return out


def main() -> None:
    pairs = [("facts + turns", "turns only"), ("facts + turns", "rag-hybrid"), ("turns only", "rag-hybrid")]
    val = {
        "facts + turns": question_rows([run_dir("val-k3")], "edgemem"),
        "turns only": question_rows([run_dir("val-k0")], "edgemem"),
        "rag-hybrid": question_rows([run_dir("val-k3")], "rag-hybrid"),
    }
    out = {"tuning: conv-26 + conv-30": compare(val, pairs)}
    for conv in ("conv-26", "conv-30"):
        out[f"tuning: {conv}"] = compare(
            {n: {k: r for k, r in s.items() if k[0] == conv} for n, s in val.items()}, pairs
        )
    test = {
        "facts + turns": question_rows([RESULTS / "accuracy-conv41-plain"], "edgemem"),
        "turns only": question_rows([run_dir("c41-k0")], "edgemem"),
        "rag-hybrid": question_rows([RESULTS / "accuracy-conv41-plain"], "rag-hybrid"),
        "rag": question_rows([RESULTS / "accuracy-conv41-plain"], "rag"),
    }
    out["test: conv-41"] = compare(test, pairs + [("turns only", "rag"), ("facts + turns", "rag")])
    # the questions rag-hybrid answers better by more than 0.2 F1, and how many of them had all of
    # rag-hybrid's turns in edgemem's context (the answer then came from a fact, not from a missing turn)
    facts, hybrid = test["facts + turns"], test["rag-hybrid"]
    lost = [k for k in sorted(facts) if facts[k]["f1"] + 0.2 < hybrid[k]["f1"]]
    held = [k for k in lost if set(hybrid[k]["context_keys"]) <= set(facts[k]["context_keys"])]
    out["test: conv-41"]["lost to rag-hybrid by > 0.2 F1"] = {
        "questions": len(lost),
        "all its turns in context": len(held),
    }
    c42 = RESULTS / "accuracy-conv42-plain"
    out["test: conv-42"] = compare(
        {
            "facts + turns": question_rows([c42], "edgemem"),
            "turns only": question_rows([run_dir("c42-k0")], "edgemem"),
            "rag-hybrid": question_rows([c42], "rag-hybrid"),
            "rag": question_rows([c42], "rag"),
        },
        pairs + [("turns only", "rag"), ("facts + turns", "rag")],
    )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
