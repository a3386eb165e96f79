"""The benchmark harnesses: scoring by hand-computed cases, and a tiny conversation through the
LoCoMo harness on the real stack, interrupted and resumed. Run: .venv/bin/pytest tests/test_benchmarks.py"""

from __future__ import annotations

import json
import math

import pytest
from test_training import TINY

from benchmarks.scoring import bleu1, score

BLEU = [
    # prediction, gold, BLEU-1 by hand (unigram precision x brevity penalty; method1 smoothing)
    ("Lisbon", "Lisbon", 1.0),
    ("lisbon", "Lisbon", 1.0),  # lowercased
    ("May 7, 2023", "7 May 2023", 0.75),  # 4 tokens (the comma is one), 3 match, no brevity penalty
    ("Lisbon", "Lisbon, Portugal", math.exp(-2)),  # precision 1; reference has 3 tokens (comma too): BP = exp(1 - 3/1)
    ("Paris", "Lisbon", 0.0),
    ("", "Lisbon", 0.0),
    ("2022", "2023", 0.0),  # numbers are tokens
]


@pytest.mark.parametrize("pred,gold,expected", BLEU)
def test_bleu1(pred, gold, expected):
    assert bleu1(pred, gold) == pytest.approx(expected, abs=1e-9)


def test_score_has_all_three():
    s = score("in Lisbon", "Lisbon")
    assert s["em"] == 0.0 and s["f1"] == pytest.approx(2 / 3) and s["bleu1"] == pytest.approx(0.5)


@pytest.mark.slow
def test_locomo_harness_end_to_end_and_resume(tmp_path):
    from benchmarks import locomo

    data = tmp_path / "tiny.json"
    data.write_text(json.dumps([TINY]))
    out = tmp_path / "out"
    argv = [
        "--data",
        str(data),
        "--conversations",
        "tiny",
        "--model",
        "smollm2-135m",
        "--threads",
        "1",
        "--n-ctx",
        "4096",
        "--out",
        str(out),
    ]
    # First run: only two systems (as if interrupted before the others)
    locomo.main([*argv, "--systems", "none,rag"])
    first = (out / "predictions.jsonl").read_text().splitlines()
    assert len(first) == 2 * 4
    # Resumed with all systems: finished work is kept, only the rest runs
    summary = locomo.main([*argv, "--systems", "none,rag,full,edgemem"])
    lines = (out / "predictions.jsonl").read_text().splitlines()
    assert lines[: len(first)] == first and len(lines) == 4 * 4
    rows = [json.loads(line) for line in lines]
    assert {r["system"] for r in rows} == {"none", "rag", "full", "edgemem"}
    assert all(0 <= r["f1"] <= 1 and 0 <= r["bleu1"] <= 1 and r["latency_s"] > 0 for r in rows)
    assert all("cited" in r for r in rows if r["system"] == "edgemem")
    assert summary["scores"]["edgemem"]["all"]["n"] == 4 and summary["scores"]["rag"]["4"]["n"] == 4
    assert summary["machine"]["cores"] and summary["model"]["sha256"]
    assert summary["ingest"]["edgemem/tiny"]["turns"] == 4
    for f in ("summary.json", "summary.md", "f1_per_category.png", "f1_vs_latency.png"):
        assert (out / f).stat().st_size > 0
    assert "single-hop (Open Domain)" in (out / "summary.md").read_text()  # both naming conventions
