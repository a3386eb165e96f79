"""The budgeted context (Memory.context): facts and raw turns ranked together, a fact and its source
turn spent once, cut at the budget, in dialogue order, on the real store and embedder (no LLM).
Run: .venv/bin/pytest tests/test_context.py"""

from __future__ import annotations

import doctest

import pytest

from edgemem import context
from edgemem.errors import InvalidInput
from edgemem.store import PlannedOp, Turn

TURNS = [
    ("Maya", "I moved to Lisbon last week, my flat is near the river.", "20 April 2025", ["Maya moved to Lisbon."]),
    (
        "Leo",
        "I started training for the Berlin marathon.",
        "21 April 2025",
        ["Leo is training for the Berlin marathon."],
    ),
    ("Maya", "My sister Ines visited me yesterday.", "2 May 2025", []),
    ("Leo", "I bought a red bicycle for commuting.", "3 May 2025", ["Leo bought a red bicycle."]),
]


@pytest.fixture
def mem(make_memory, scripted):
    """A store written by the real apply path: each turn with its vector and its facts as ADDs."""
    m = make_memory(scripted)
    for i, (speaker, text, time, facts) in enumerate(TURNS):
        vectors = m.embedder.embed([text, *facts])
        ops = [PlannedOp("ADD", text=f, vector=v) for f, v in zip(facts, vectors[1:], strict=True)]
        m.store.apply_turn("u", Turn(speaker, text, time, "s", str(i)), vectors[0], ops, facts)
    return m


def test_doctests():
    assert doctest.testmod(context).failed == 0


def test_facts_and_turns_in_one_budgeted_context(mem):
    c = mem.context("Which marathon is Leo training for?", budget_tokens=60)
    assert c.tokens <= 60 and c.items and c.text == "\n".join(i.line for i in c.items)
    assert "Berlin marathon" in c.text
    # the fact and the turn it came from are never both spent
    turn_ids = [i.turn_id for i in c.items]
    assert len(turn_ids) == len(set(turn_ids))
    # dialogue order, each with its date
    assert turn_ids == sorted(turn_ids) and all(i.time for i in c.items)
    assert all(i.line.startswith(f"- [{i.time}] ") for i in c.items)
    # a raw turn without a fact (Ines) is found by its own words
    assert any(i.kind == "turn" and "Ines" in i.text for i in mem.context("Who is Ines?", budget_tokens=60).items)


def test_budget_bounds_what_is_returned(mem):
    small = mem.context("Where does Maya live?", budget_tokens=12)
    large = mem.context("Where does Maya live?", budget_tokens=2000)
    assert small.tokens <= 12 and len(small.items) <= len(large.items)
    # everything fits: each of the 4 turns once, as itself or as the fact taken from it
    assert len(large.items) == 4 and {i.turn_id for i in large.items} == {1, 2, 3, 4}


@pytest.mark.parametrize(
    "budget,message",
    [
        (0, "budget_tokens must be"),
        (-5, "budget_tokens must be"),
        ("600", "budget_tokens must be"),
        (10**9, "more than"),
    ],
)
def test_bad_budget_is_refused(mem, budget, message):
    with pytest.raises(InvalidInput, match=message):
        mem.context("Where does Maya live?", budget_tokens=budget)


@pytest.mark.parametrize("question", ["", "   "])
def test_empty_question_is_refused(mem, question):
    with pytest.raises(InvalidInput, match="question is empty"):
        mem.context(question)


def test_long_questions_operators_and_an_empty_user(mem):
    before = mem.store.count("u")
    assert mem.context('NEAR(Leo "Berlin) AND NOT * ' + "x" * 10_000, budget_tokens=100).tokens <= 100
    empty = mem.context("Where does Maya live?", user="nobody")
    assert empty.items == [] and empty.text == "" and empty.tokens == 0
    assert mem.store.count("u") == before  # reading changed nothing
