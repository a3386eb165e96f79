"""The admission gate (edgemem/admission.py) and its benchmark. Run: .venv/bin/pytest tests/test_admission.py"""

import doctest
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import LOCOMO, NO_LOCOMO

from benchmarks import admission as bench
from edgemem import admission
from edgemem.admission import worth_extracting


def test_doctests():
    assert doctest.testmod(admission).failed == 0


GATE = [
    ("Wow! What got you into running?", False),
    ("That's cool, Jon! Can't wait to see it.", False),
    ("Thanks!", False),
    ("I quit my job at the bakery.", True),
    ("My sister Ana helps me.", True),
    ("We moved to Rome.", True),
    ("i'm a nurse", True),  # lower case
    ("Impressive, timely and mine", True),  # "mine" is first person; "Impressive" is not "I"
    # long enough to carry news without "I": admitted
    (
        "The store opened last Friday downtown, the whole street came by, and the first week sold more than a month",
        True,
    ),
    ("Nice", False),
]


@pytest.mark.parametrize("text,expected", GATE)
def test_worth_extracting(text, expected):
    assert worth_extracting(text) is expected


def test_benchmark_scores_evidence_and_extractor(tmp_path):
    """Precision and recall of "admitted" against evidence messages and against a bank's extracted facts."""
    conv = {
        "sample_id": "gate",
        "conversation": {
            "speaker_a": "Maya",
            "speaker_b": "Leo",
            "session_1_date_time": "10:15 am on 2 March, 2025",
            "session_1": [
                {"speaker": "Maya", "dia_id": "D1:1", "text": "I live in Porto."},
                {"speaker": "Leo", "dia_id": "D1:2", "text": "Wow, Porto! Nice."},
                {"speaker": "Maya", "dia_id": "D1:3", "text": "Yes, lovely."},
                {"speaker": "Leo", "dia_id": "D1:4", "text": "I am a nurse."},
            ],
        },
        "qa": [
            {"question": "Where does Maya live?", "answer": "Porto", "evidence": ["D1:1"], "category": 4},
            {"question": "Where?", "answer": "Porto", "evidence": ["D1:2"], "category": 4},
        ],
    }
    data = tmp_path / "gate.json"
    data.write_text(json.dumps([conv]))
    bank = tmp_path / "bank.db"
    with sqlite3.connect(bank) as c:
        c.execute("CREATE TABLE turns (key TEXT, facts TEXT)")
        c.executemany(
            "INSERT INTO turns VALUES (?, ?)", [("D1:1", '["a"]'), ("D1:2", "[]"), ("D1:3", '["b"]'), ("D1:4", '["c"]')]
        )
    got = bench.score(data, "gate", bank)
    assert (got["messages"], got["skipped"], got["skip_rate"]) == (4, 2, 0.5)
    # admitted D1:1 and D1:4; evidence D1:1 and D1:2
    assert got["vs_evidence"] == {"positives": 2, "admitted": 2, "precision": 0.5, "recall": 0.5}
    assert got["evidence_skipped"] == ["D1:2 Leo: Wow, Porto! Nice."]
    # extractor found facts in D1:1, D1:3, D1:4
    assert {k: got["vs_extractor"][k] for k in ("positives", "precision", "recall")} == {
        "positives": 3,
        "precision": 1.0,
        "recall": 0.6667,
    }


@pytest.mark.skipif(not LOCOMO.exists(), reason=NO_LOCOMO)
def test_committed_result_is_current():
    """benchmarks/results/admission-gate.json matches the rule as it is (the parts that need no bank)."""
    committed = json.loads((Path(__file__).resolve().parents[1] / "benchmarks/results/admission-gate.json").read_text())
    for conv, got in committed["conversations"].items():
        now = bench.score(LOCOMO, conv)
        assert {k: got[k] for k in now} == now, conv
