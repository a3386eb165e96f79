"""A question about something never mentioned is answered "Not mentioned" without a model call: the anchor
words of a question (table), their lookup in a real store's keyword index (what search can show, and
nothing else), the answer agent's short cut, and the same on the real model.
Run: .venv/bin/pytest tests/test_unmentioned.py"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from fakes import ScriptedEngine
from hypothesis import given, settings
from hypothesis import strategies as st

from edgemem import unmentioned as rule
from edgemem.errors import InvalidInput
from edgemem.store import PlannedOp, Store, Turn
from edgemem.unmentioned import NOT_MENTIONED, anchor_words, unmentioned


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def test_doctests():
    assert doctest.testmod(rule).failed == 0


@pytest.mark.parametrize(
    "question,anchors",
    [
        ("What is the name of my hamster?", ["hamster"]),
        ("What did I bake for my uncle's birthday party?", ["uncle"]),
        ("What did I bake for my uncle’s birthday party?", ["uncle"]),  # a curly apostrophe
        ("How many fish are there in my 30-gallon tank?", ["30-gallon"]),
        ("How long have I been in my current job at Google?", ["job", "google"]),  # "current" passed over
        ("Who became a parent first, Tom or Alex?", ["tom", "alex"]),
        ("Which project did I start first, the Ferrari or the Porsche?", ["ferrari", "porsche"]),
        ("Where did Caroline move from? Melanie knows.", ["caroline"]),  # a sentence's first word is no anchor
        ("What did I do last Saturday in March?", []),  # time lives in a message's date, not its words
        ("I went through our previous conversation: remind me of the book", []),  # "our": the chat itself
        ("How many days did I spend on the trip?", []),  # verbs and common words are no anchors
        ("What did Dr. Smith say?", ["smith"]),
        ('NEAR(my "hamster) AND NOT * -x:^y', ["hamster"]),  # FTS syntax is plain words
        ("", []),
    ],
)
def test_anchor_words(question, anchors):
    assert anchor_words(question) == anchors


@pytest.fixture(scope="module")
def cat_store(tmp_path_factory):
    s = Store(str(tmp_path_factory.mktemp("any") / "m.db"))
    s.store_turn("u", Turn("Sam", "I have a cat named Luna", None, "s", "1"), unit(0))
    yield s
    s.close()


@settings(max_examples=300, deadline=None)
@given(st.text() | st.from_regex(r"(my|My|[A-Z])[\w\s\"'*():^.?-]{0,40}"))
def test_any_question_is_looked_up_without_error(cat_store, text):
    assert set(unmentioned(cat_store, "u", text)) <= set(anchor_words(text))


def test_only_what_search_can_show_counts_as_mentioned(tmp_path):
    """A word counts as mentioned when a visible turn, a live memory or a version of a live memory of the
    same user holds it (plurals and longer words by prefix); a forgotten fact's turn and other users'
    texts do not."""
    s = Store(str(tmp_path / "m.db"))
    s.store_turn("u", Turn("Sam", "My cats are Luna and Max; I collect vintage cameras.", None, "s", "1"), unit(1))
    s.store_turn("other", Turn("Kim", "My hamster is called Pip.", None, "s", "1"), unit(2))
    assert unmentioned(s, "u", "What is the name of my hamster?") == ["hamster"]
    assert unmentioned(s, "u", "What is the name of my cat?") == []  # "cats" holds the prefix "cat"
    assert unmentioned(s, "u", "How long have I had my camera?") == []
    assert unmentioned(s, "u", "Do I still see Max?") == []
    assert unmentioned(s, "nobody", "Where is Luna?") == ["luna"]

    # "pollen" only in a memory (its message said otherwise), then only in that memory's earlier version
    s.apply_turn(
        "u",
        Turn("Sam", "I sneeze all spring", None, "s", "2"),
        unit(3),
        [PlannedOp("ADD", text="Sam is allergic to pollen", vector=unit(4))],
    )
    assert unmentioned(s, "u", "How bad is my Pollen allergy?") == []
    (m,) = s.memories("u")
    s.apply_turn(
        "u",
        Turn("Sam", "It turns out it is birch trees", None, "s", "3"),
        unit(5),
        [PlannedOp("UPDATE", m.id, text="Sam reacts to birch", vector=unit(6))],
    )
    assert "pollen" not in s.get("u", m.id).text and unmentioned(s, "u", "What about my Pollen?") == []
    s.forget("u", m.id)  # the memory and its versions leave search
    assert unmentioned(s, "u", "What about my pollen?") == ["pollen"]
    s.restore("u", m.id, unit(6))
    assert unmentioned(s, "u", "What about my pollen?") == []
    with pytest.raises(InvalidInput, match="not a word prefix"):
        s.unfound_prefixes("u", ['x" OR "y'])
    s.close()


def test_the_answer_agent_says_not_mentioned_without_a_model_call(make_memory):
    eng = ScriptedEngine()
    mem = make_memory(eng, background=False)
    mem.store.store_turn("u", Turn("Sam", "I have a cat named Luna.", "1 May 2023", "s", "1"), unit(1))
    streamed: list[str] = []
    a = mem.answer("What is the name of my hamster?", on_token=streamed.append)
    assert (a.answer, a.unmentioned, a.cited, eng.history) == (NOT_MENTIONED, ["hamster"], [], [])
    assert streamed == [NOT_MENTIONED] and a.context  # what was found is still shown

    eng.enqueue("Luna")
    assert mem.answer("What is the name of my cat?").answer == "Luna" and len(eng.history) == 1
    c = mem.context("What is the name of my hamster?")
    assert c.unmentioned == ["hamster"] and c.text.endswith("Nothing stored mentions: hamster.")


def test_the_rule_can_be_turned_off(make_memory):
    eng = ScriptedEngine(["Luna"])
    mem = make_memory(eng, background=False, abstain_unmentioned=False)
    mem.store.store_turn("u", Turn("Sam", "I have a cat named Luna.", "1 May 2023", "s", "1"), unit(1))
    a = mem.answer("What is the name of my hamster?")
    assert (a.answer, a.unmentioned, len(eng.history)) == ("Luna", [], 1)


@pytest.mark.slow
def test_on_the_real_model_an_unmentioned_pet_is_not_answered_from_another(tmp_path, qwen_engine, embedder):
    """The case of LongMemEval's abstention questions, end to end: a cat was mentioned, the question asks
    about a hamster; the real model answers the cat question from the real store."""
    from edgemem import Memory

    with Memory(tmp_path / "m.db", user="u", engine=qwen_engine, embedder=embedder) as mem:
        mem.add("I adopted a cat last week, her name is Luna.", speaker="Sam", time="8 May 2023", wait=True)
        a = mem.answer("What is the name of my hamster?")
        assert (a.answer, a.unmentioned, a.completion_tokens) == (NOT_MENTIONED, ["hamster"], 0)
        b = mem.answer("What is the name of my cat?")
        assert b.unmentioned == [] and b.completion_tokens > 0 and "luna" in b.answer.lower()
