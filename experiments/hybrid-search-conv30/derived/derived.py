"""Hybrid against vector search on conv-30, from the committed predictions of this experiment (cited in
its NOTES): paired F1, evidence recall (the share of a question's evidence turns in its context) and
prompt tokens per system.

    PYTHONPATH=. .venv/bin/python experiments/hybrid-search-conv30/derived/derived.py > experiments/hybrid-search-conv30/derived/derived.json
"""

import json
import statistics
from pathlib import Path

from benchmarks.pool import compare_runs, question_rows

HERE = Path(__file__).resolve().parents[1]


def profile(run: str, system: str) -> dict:
    rows = list(question_rows([HERE / run], system).values())
    recalls = [r["evidence_recall"] for r in rows if r.get("evidence_recall") is not None]
    return {
        "n": len(rows),
        "f1": round(100 * statistics.fmean(r["f1"] for r in rows), 2),
        "evidence_recall": round(statistics.fmean(recalls), 4),
        "evidence_complete": round(statistics.fmean(x == 1.0 for x in recalls), 4),
        "prompt_tokens_mean": round(statistics.fmean(r["prompt_tokens"] for r in rows), 1),
    }


runs = {"rag": ("c30-rag", "rag"), "rag-hybrid": ("c30-rag", "rag-hybrid")}
runs |= {f"edgemem {name} (s1-6)": (f"c30s6-{name}", "edgemem") for name in ("dense", "hybrid", "budget")}
runs = {k: v for k, v in runs.items() if (HERE / v[0]).exists()}
out: dict[str, object] = {name: profile(*where) for name, where in runs.items()}
pairs = [("rag-hybrid", "rag"), ("edgemem hybrid (s1-6)", "edgemem dense (s1-6)")]
pairs += [("edgemem budget (s1-6)", "edgemem hybrid (s1-6)"), ("edgemem budget (s1-6)", "edgemem dense (s1-6)")]
for new, old in pairs:
    if new in runs and old in runs:
        (a, sa), (b, sb) = runs[new], runs[old]
        out[f"{new} vs {old}"] = compare_runs([HERE / a], [HERE / b], sa, sb)
print(json.dumps(out, indent=2))
