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
    assert empty.items == [] and empty.tokens == 0
    # nothing is stored for that user, so the name the question is about is said to be unmentioned
    assert empty.unmentioned == ["maya"] and empty.text == "Nothing stored mentions: maya."
    assert mem.store.count("u") == before  # reading changed nothing


def test_an_update_keeps_the_old_text_findable_as_a_superseded_version(mem):
    """The demo's case: "Leo started training for the Berlin marathon" overwritten by "Leo's marathon
    training is going well". The latest state is the memory; the old one stays in the context, marked with
    the time it stopped being current; forgetting the memory takes its versions too."""
    (marathon,) = [m for m in mem.memories() if "Berlin" in m.text]
    new = "Leo's marathon training is going well."
    mem.store.apply_turn(
        "u",
        Turn("Leo", "My marathon training is going well!", "5 June 2025", "s", "9"),
        mem.embedder.embed_one("My marathon training is going well!"),
        [PlannedOp("UPDATE", marathon.id, new, mem.embedder.embed_one(new))],
        [new],
    )
    assert [m.text for m in mem.memories() if m.id == marathon.id] == [new]
    (v,) = mem.store.search_versions("u", mem.embedder.embed_one("Berlin marathon"), 5, text="Berlin marathon")
    assert v.text == "Leo is training for the Berlin marathon." and v.until == "5 June 2025" and v.score > 0.3
    c = mem.context("Which marathon is Leo training for?", budget_tokens=200)
    (line,) = [i.line for i in c.items if i.kind == "version"]
    assert line == "- [21 April 2025] until 5 June 2025: Leo is training for the Berlin marathon."
    assert any(i.kind == "memory" and i.text == new for i in c.items)
    mem.forget(marathon.id)
    assert mem.store.search_versions("u", mem.embedder.embed_one("Berlin marathon"), 5, text="Berlin") == []


def test_versions_are_rebuilt_from_history_for_stores_written_before_them(tmp_path, embedder):
    """A store whose UPDATEs predate versions: migration m005 rebuilds them from the history's old text
    (found by keywords; their vectors were overwritten then)."""
    from edgemem import migrations
    from edgemem.db import _load_vec, sqlite_module
    from edgemem.store import Store

    path = tmp_path / "old.db"
    conn = sqlite_module().connect(str(path), isolation_level=None)
    _load_vec(conn)
    for _name, fn in migrations.MIGRATIONS[:4]:
        fn(conn)
    migrations.applied(conn)
    conn.executemany(
        "INSERT INTO _migrations VALUES (?, ?, 't')", [(i + 1, n) for i, (n, _) in enumerate(migrations.MIGRATIONS[:4])]
    )
    conn.execute(
        "INSERT INTO turns (user, source, key, speaker, text, time, created_at) VALUES ('u', 's', '2', 'Leo', 'going well', '5 June 2025', 't')"
    )
    conn.execute(
        "INSERT INTO memories (user, speaker, text, created_at, updated_at) VALUES ('u', 'Leo', 'Leo training is going well', 't', 't')"
    )
    conn.execute(
        "INSERT INTO history (user, memory_id, op, old_text, new_text, turn_id, created_at) "
        "VALUES ('u', 1, 'UPDATE', 'Leo trains for the Berlin marathon', 'Leo training is going well', 1, 't')"
    )
    conn.close()
    s = Store(str(path))
    (v,) = s.search_versions("u", embedder.embed_one("Berlin"), 3, text="Berlin marathon")
    assert v.text == "Leo trains for the Berlin marathon" and v.until == "5 June 2025" and v.score == 0.0
    s.close()


def test_forgetting_a_fact_takes_its_copies_and_restoring_brings_them_back(mem):
    """The same fact stored twice (another turn, other case and punctuation) is forgotten with the one the
    user named, and its source turn is hidden too; a different fact with most of the same words stays.
    Restoring the memory restores its copies in the same step."""
    said = [
        ("Leo", "Oh and I'm allergic to cats.", "Leo is allergic to cats."),
        ("Leo", "Did I say? I am allergic to cats!", "leo is allergic to CATS"),
        ("Leo", "Dogs are fine, I'm allergic to no dogs, just kidding, dogs too.", "Leo is allergic to dogs."),
    ]
    ids = []
    for i, (speaker, text, fact) in enumerate(said):
        vectors = mem.embedder.embed([text, fact])
        mem.store.apply_turn(
            "u",
            Turn(speaker, text, "1 May 2025", "s", f"c{i}"),
            vectors[0],
            [PlannedOp("ADD", text=fact, vector=vectors[1])],
            [fact],
        )
        ids.append(max(m.id for m in mem.memories()))
    q = "Is Leo allergic to cats?"
    mem.forget(ids[0])
    live = {m.id for m in mem.memories()}
    assert ids[0] not in live and ids[1] not in live and ids[2] in live
    assert not any("cats" in h.text.lower() for h in mem.search(q, k=10))
    assert not any("cats" in t.text for t in mem.store.search_turns("u", mem.embedder.embed_one(q), 10, text=q))
    assert [h.detail for h in mem.history() if h.memory_id == ids[1]][-1] == f"copy of memory {ids[0]}"
    mem.restore(ids[0])
    assert {ids[0], ids[1], ids[2]} <= {m.id for m in mem.memories()}
    assert sum("cats" in h.text.lower() for h in mem.search(q, k=10)) == 2


def test_embedding_similarity_cannot_tell_a_copy_from_another_fact(embedder):
    """Why copies of a fact are matched by their content words, not by their vectors: different facts with
    one word changed are as close as a copy (docs/architecture.md)."""
    two, three, may7, may8 = embedder.embed(
        [
            "Melanie has two kids",
            "Melanie has three kids",
            "Caroline went to a support group on 7 May 2023",
            "Caroline went to a support group on 8 May 2023",
        ]
    )
    assert float(two @ three) > 0.95 and float(may7 @ may8) > 0.95
