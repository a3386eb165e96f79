"""Paired F1 differences between the committed conv-30 runs of this experiment (same bank, same
questions): 5 memories per speaker + 10 turns (k5-t10/), and the defaults' 5 + 5 over turn vectors that
embed "[date] speaker: text" (time-speaker/), and ten turns alone over those vectors
(time-speaker-k0-t10/: rag-hybrid's context in the answer agent's prompt), each against the defaults (5 + 5, turn text alone) and
rag-hybrid (defaults/), with 95 % bootstrap intervals over questions; and rag-hybrid's prompt over
edgemem's contexts (rag-prompt*/, rag_prompt.py), each also against ten turns alone under that prompt.

    PYTHONPATH=. .venv/bin/python experiments/answer-context-conv30/derived/derived.py > experiments/answer-context-conv30/derived/derived.json
"""

import json
import statistics
from pathlib import Path

from benchmarks.scoring import paired_delta

RUNS = Path(__file__).resolve().parents[3] / "benchmarks/results/answer-context-conv30"


# rag-hybrid's prompt over edgemem's contexts (rag_prompt.py): folder -> what it reads
RAG_PROMPT_RUNS = (
    "rag-prompt",
    "rag-prompt-turns",
    "rag-prompt-k3-t10",
    "rag-prompt-budget800",
    "rag-prompt-k3-t10-text",  # the same as rag-prompt-k3-t10 over today's turn vectors (the text alone)
)


def f1_by_question(folder: str, system: str) -> dict[str, dict]:
    rows = [json.loads(line) for line in (RUNS / folder / "predictions.jsonl").read_text().splitlines() if line]
    return {r["qid"]: r for r in rows if r["system"] == system}


def main() -> None:
    base = {
        "edgemem (5 + 5)": f1_by_question("defaults", "edgemem"),
        "rag-hybrid": f1_by_question("defaults", "rag-hybrid"),
    }
    qids = sorted(base["rag-hybrid"])
    out: dict = {"questions": len(qids)}
    for name, rows in base.items():
        out[name] = summary(rows, qids)
    # the new defaults through the harness (plain answers, 3 + 10): over today's turn vectors
    # (harness-text-vectors/), and over vectors of "[date] speaker: text" after migration m010 re-embedded
    # the same bank (benchmarks/results/accuracy-conv30-plain/, the README's row)
    for variant in (
        "k5-t10",
        "time-speaker",
        "time-speaker-k0-t10",
        "harness-text-vectors",
        "../accuracy-conv30-plain",
    ):
        rows = f1_by_question(variant, "edgemem")
        label = variant.removeprefix("../")
        out[label] = summary(rows, qids)
        for name, other in base.items():
            d = paired_delta([rows[q]["f1"] for q in qids], [other[q]["f1"] for q in qids])
            out[f"{label} vs {name}"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}
    control = f1_by_question("rag-prompt-turns", "rag-prompt")
    for variant in RAG_PROMPT_RUNS:
        rows = f1_by_question(variant, "rag-prompt")
        out[variant] = summary(rows, qids)
        # ten turns alone: against the same contexts read by the answer agent's prompt
        others = (
            {**base, "rag-prompt-turns": control}
            if variant != "rag-prompt-turns"
            else {**base, "time-speaker-k0-t10": f1_by_question("time-speaker-k0-t10", "edgemem")}
        )
        if variant == "rag-prompt-k3-t10-text":
            others["rag-prompt-k3-t10"] = f1_by_question("rag-prompt-k3-t10", "rag-prompt")
        for name, other in others.items():
            d = paired_delta([rows[q]["f1"] for q in qids], [other[q]["f1"] for q in qids])
            out[f"{variant} vs {name}"] = {k: round(v, 1) if isinstance(v, float) else v for k, v in d.items()}
    print(json.dumps(out, indent=2))


def summary(rows: dict[str, dict], qids: list[str]) -> dict:
    recalls = [rows[q]["evidence_recall"] for q in qids if rows[q].get("evidence_recall") is not None]
    return {
        "f1": round(100 * statistics.fmean(rows[q]["f1"] for q in qids), 1),
        "evidence_recall": round(statistics.fmean(recalls), 3),
        "prompt_tokens_p50": statistics.median(rows[q]["prompt_tokens"] for q in qids),
        "answer_p50_s": round(statistics.median(rows[q]["latency_s"] for q in qids), 2),
    }


if __name__ == "__main__":
    main()
