"""Answer metrics against hand-computed cases. Run: .venv/bin/pytest tests/test_metrics.py"""

import doctest

import pytest

from edgemem import metrics
from edgemem.metrics import exact_match, f1, tokens

CASES = [
    # prediction, gold, exact match, F1 (by hand)
    ("Lisbon", "Lisbon", 1.0, 1.0),
    ("lisbon.", "Lisbon", 1.0, 1.0),  # case and punctuation
    ("In Lisbon", "Lisbon", 0.0, 2 * 0.5 * 1 / 1.5),  # P=1/2, R=1 -> 2/3
    ("7 May 2023", "7 May, 2023", 1.0, 1.0),  # the comma is a separator
    ("May 7 2023", "7 May 2023", 0.0, 1.0),  # sets: order does not matter for F1
    ("2022", "2023", 0.0, 0.0),  # numbers are tokens like any other
    ("the the cat", "the cat", 0.0, 1.0),  # sets: repeats do not count
    ("", "Lisbon", 0.0, 0.0),
    ("Not mentioned", "Paris", 0.0, 0.0),
    ("U.S.A", "usa", 0.0, 0.0),  # "." splits: u s a vs usa
    ("Hiking, swimming and painting", "painting, hiking", 0.0, 2 * (2 / 4) * 1 / (2 / 4 + 1)),
]


@pytest.mark.parametrize("pred,gold,em,f", CASES)
def test_metrics(pred, gold, em, f):
    assert exact_match(pred, gold) == em
    assert f1(pred, gold) == pytest.approx(f)


def test_tokens_apostrophes_and_colons_stay():
    # Only . , ! ? are punctuation in this definition: other marks stay in the token.
    assert tokens("Jon's shop: open!") == ["jon's", "shop:", "open"]


def test_doctests():
    assert doctest.testmod(metrics).failed == 0
