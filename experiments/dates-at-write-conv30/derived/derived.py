"""Dates resolved at write against the same pipeline without, on conv-30 sessions 1-6, from the committed
predictions (this folder's run and hybrid-search-conv30's c30s6-hybrid, same answer settings): paired F1
over all questions and over LoCoMo's temporal category (2).

    PYTHONPATH=. .venv/bin/python experiments/dates-at-write-conv30/derived/derived.py > experiments/dates-at-write-conv30/derived/derived.json
"""

import json
from pathlib import Path

from benchmarks.pool import compare_runs, question_rows
from benchmarks.scoring import paired_delta

HERE = Path(__file__).resolve().parents[1]
AFTER = HERE / "c30s6-dates"
BEFORE = HERE.parent / "hybrid-search-conv30" / "c30s6-hybrid"

after, before = question_rows([AFTER], "edgemem"), question_rows([BEFORE], "edgemem")
out: dict[str, object] = {"all questions": compare_runs([AFTER], [BEFORE], "edgemem", "edgemem")}
for category in (1, 2, 3, 4):
    qids = sorted(q for q, r in before.items() if r["category"] == category)
    if qids:
        out[f"category {category}"] = paired_delta([after[q]["f1"] for q in qids], [before[q]["f1"] for q in qids])
out["changed answers"] = sum(after[q]["prediction"] != before[q]["prediction"] for q in before)
print(json.dumps(out, indent=2))
