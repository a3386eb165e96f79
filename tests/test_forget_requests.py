"""Requests to forget, recognised before extraction: the rules as a table, the committed measurement, and
the DELETE path on a real database file. Run: .venv/bin/pytest tests/test_forget_requests.py"""

from __future__ import annotations

import doctest

import pytest
from fakes import EchoEngine

from benchmarks import forget_requests as bench
from edgemem import forget_requests, manager
from edgemem.forget_requests import forget_request


def test_doctests():
    assert doctest.testmod(forget_requests).failed == 0
    assert doctest.testmod(manager).failed == 0


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("Please forget that I'm allergic to cats, I'd rather keep my health private.", "I'm allergic to cats"),
        ("Can you forget my phone number?", "my phone number"),
        ("Delete what I said about my salary", "my salary"),
        ("Hey, forget that my sister is getting married, it's a secret.", "my sister is getting married"),
        ("Please stop remembering my birthday.", "my birthday"),
        ("Remove my email address from your memory.", "my email address"),
        ("Please forget, I never want you to remember my weight.", "my weight"),
        ("Actually, forget that. I'm not moving after all.", None),
        ("forget i said that", None),
    ],
)
def test_requests_and_what_they_name(text, target):
    found = forget_request(text)
    assert found is not None and found.target == target


@pytest.mark.parametrize(
    "text",
    [
        "I forgot my keys",
        "Don't forget the party!",
        "Please remember that I'm allergic to cats.",
        "I deleted my account",
        "Forget it, I'll ask someone else.",
        "Forget-me-nots are lovely",
        "Can you remind me to delete the old photos?",
        "I want to forget that awful day.",
    ],
)
def test_look_alikes_are_not_requests(text):
    assert forget_request(text) is None


def test_committed_measurement_meets_the_targets_and_is_current():
    """Both tables meet precision >= 0.95 and recall >= 0.9, and the committed result is what the rules give now."""
    import json
    from pathlib import Path

    scores = {name: bench.score(bench.read_table(path)) for name, path in bench.TABLES.items()}
    for name, s in scores.items():
        assert s.requests >= 24 and s.others >= 24, name
        assert s.precision >= bench.TARGET_PRECISION and s.recall >= bench.TARGET_RECALL, (name, s)
    assert scores["tuned"].requests + scores["heldout"].requests >= 40
    committed = json.loads(
        (Path(__file__).resolve().parents[1] / "benchmarks/results/forget-requests.json").read_text()
    )
    assert committed["scores"]["heldout"]["precision"] == scores["heldout"].precision
    assert committed["scores"]["tuned"]["recall"] == scores["tuned"].recall


def test_a_request_deletes_the_fact_and_hides_both_messages_until_restored(make_memory):
    mem = make_memory(EchoEngine())
    said = mem.add("I'm allergic to cats", speaker="Leo", wait=True)
    mem.add("I have a dog called Rex", speaker="Leo", wait=True)
    allergy = next(m for m in mem.memories() if "allergic" in m.text)
    r = mem.add("Please forget that I'm allergic to cats, I'd rather keep my health private.", speaker="Leo", wait=True)
    assert r.llm_calls == 0 and r.facts == []  # no extraction: the request is not stored as a fact
    assert [(o.op, o.memory_id) for o in r.operations] == [("DELETE", allergy.id)]
    assert "request to forget: I'm allergic to cats" in r.operations[0].detail
    assert [m.text for m in mem.memories()] == ["Leo said: I have a dog called Rex"]
    context = mem.context("Is Leo allergic to anything?").text
    assert "allergic" not in context  # neither the message that said it nor the request that repeats it
    mem.restore(allergy.id)
    turns = mem.store.search_turns("u", mem.embedder.embed_one("allergic to cats"), 5)
    assert {said.turn_id, r.turn_id} <= {t.id for t in turns}


def test_forget_that_takes_the_previous_message(make_memory):
    mem = make_memory(EchoEngine())
    mem.add("I live in Porto", speaker="Ana", wait=True)
    mem.add("I'm moving to Oslo next year", speaker="Ana", wait=True)
    r = mem.add("Actually, forget that.", speaker="Ana", wait=True)
    assert [o.op for o in r.operations] == ["DELETE"]
    assert [m.text for m in mem.memories()] == ["Ana said: I live in Porto"]


def test_nothing_related_is_a_recorded_noop(make_memory):
    mem = make_memory(EchoEngine())
    mem.add("I live in Porto", speaker="Ana", wait=True)
    r = mem.add("Please forget my credit card number", speaker="Ana", wait=True)
    assert [o.op for o in r.operations] == ["NOOP"] and "no memory of Ana matches" in r.operations[0].detail
    assert len(mem.memories()) == 1


def test_the_per_message_cap_holds(make_memory):
    mem = make_memory(EchoEngine(), max_deletes_per_turn=1)
    facts = ["Sam's phone number is 555-1234", "Sam's phone number is 555-1235", "Sam's phone number is 555-1236"]
    mem.store.add_memories("u", "Sam", facts, mem.embedder.embed(facts))
    r = mem.add("Forget my phone number", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["DELETE", "REJECTED", "REJECTED"]
    assert len(mem.memories()) == 2
