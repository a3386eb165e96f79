"""Hybrid search: the keyword (FTS5) index kept in step with every write, filled for stores written
before it, fused with the vector ranking, and safe against any user text.
Run: .venv/bin/pytest tests/test_search.py"""

from __future__ import annotations

import doctest

import numpy as np
import pytest
from conftest import old_store
from hypothesis import given, settings
from hypothesis import strategies as st

from edgemem import store
from edgemem.db import sqlite_module
from edgemem.store import PlannedOp, Store, Turn, keyword_query, query_words


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


def keyword_ids(s: Store, user: str, text: str, kind: str = "memory") -> list[int]:
    return s._keyword(kind, user, text, 50, None)


def test_doctests():
    assert doctest.testmod(store).failed == 0


def test_a_store_written_before_the_keyword_index_is_filled_when_opened(tmp_path):
    """A database at schema m002 (as every store written before hybrid search): opening it applies
    m003, which indexes the live memories and every turn already stored, and not the deleted ones."""
    path = tmp_path / "old.db"
    conn = old_store(path, 2)
    conn.execute(
        "INSERT INTO turns (user, source, key, speaker, text, created_at) VALUES ('u', 's', '1', 'Ines', 'I moved to Porto', 't')"
    )
    conn.execute(
        "INSERT INTO memories (user, speaker, text, created_at, updated_at) VALUES ('u', 'Ines', 'Ines lives in Porto', 't', 't')"
    )
    conn.execute(
        "INSERT INTO memories (user, speaker, text, created_at, updated_at, deleted) VALUES ('u', 'Ines', 'Ines lived in Faro', 't', 't', 1)"
    )
    conn.close()
    s = Store(str(path))
    try:
        assert keyword_ids(s, "u", "Porto") == [1]
        assert keyword_ids(s, "u", "Faro") == []  # soft-deleted before: not indexed
        assert keyword_ids(s, "u", "Porto", "turn") == [1]
        assert keyword_ids(s, "u", "ines") == [1]  # the speaker is indexed with the text
    finally:
        s.close()


def test_every_write_keeps_the_keyword_index_in_step(tmp_path):
    s = Store(str(tmp_path / "m.db"))
    t = s.apply_turn(
        "u",
        Turn("Sam", "I live in Oslo", None, "s", "1"),
        unit(0),
        [PlannedOp("ADD", text="Sam lives in Oslo", vector=unit(1))],
    )
    (m,) = s.memories("u")
    assert keyword_ids(s, "u", "Oslo") == [m.id] and keyword_ids(s, "u", "Oslo", "turn") == [t]
    s.apply_turn(
        "u",
        Turn("Sam", "moved", None, "s", "2"),
        None,
        [PlannedOp("UPDATE", m.id, "Sam lives in Bergen", unit(2))],
    )
    assert keyword_ids(s, "u", "Oslo") == [] and keyword_ids(s, "u", "Bergen") == [m.id]
    s.forget("u", m.id)
    assert keyword_ids(s, "u", "Bergen") == []
    s.restore("u", m.id, unit(2))
    assert keyword_ids(s, "u", "Bergen") == [m.id]
    s.apply_turn("u", Turn("Sam", "x", None, "s", "3"), None, [PlannedOp("DELETE", m.id)])
    assert keyword_ids(s, "u", "Bergen") == []
    s.reset("u")
    assert keyword_ids(s, "u", "Oslo", "turn") == [] and s._q("SELECT COUNT(*) FROM memory_fts")[0][0] == 0
    s.close()


def test_hybrid_search_brings_a_keyword_match_into_the_top_k(tmp_path):
    """Dense alone ranks the memory whose vector is nearest first; the one naming the query's rare word is
    fused in ahead of it; each hit keeps its cosine similarity as its score."""
    s = Store(str(tmp_path / "m.db"))
    texts = ["Sam likes tea", "Sam met Zorbik at the harbour", "Sam owns a boat", "Sam plays chess"]
    vectors = np.stack([unit(1), unit(2), unit(3), unit(4)])
    s.add_memories("u", "Sam", texts, vectors)
    s.add_memories("v", "Ann", ["Ann met Zorbik too"], unit(2)[None, :])  # another user's match: never seen
    query = unit(1)  # nearest to "Sam likes tea"
    assert [h.text for h in s.search("u", query, 1)] == ["Sam likes tea"]
    hybrid = s.search("u", query, 2, text="Who is Zorbik?")
    assert [h.text for h in hybrid] == ["Sam met Zorbik at the harbour", "Sam likes tea"]
    assert hybrid[0].score == pytest.approx(float(unit(2) @ query), abs=1e-5)
    assert [h.text for h in s.search("u", query, 5, speaker="Ann", text="Zorbik")] == []
    assert s.search("u", query, 0, text="Zorbik") == []
    # a query with no word left (only stop words or punctuation) is the dense search
    assert [h.id for h in s.search("u", query, 3, text="what is the ???")] == [h.id for h in s.search("u", query, 3)]
    s.close()


FTS_SYNTAX = [
    'Leo "Berlin',  # unbalanced quote
    "Berlin AND NOT Leo OR",  # operators, a dangling OR
    "NEAR(Leo Berlin, 2)",
    "Ber* -Leo ^start col:value",
    "((Leo)",  # unbalanced parentheses
    "'; DROP TABLE memories; --",
    "",
    "   ",
    "*",
    "x" * 10_000,
]


@pytest.mark.parametrize("text", FTS_SYNTAX)
def test_fts_syntax_in_user_text_is_plain_words(tmp_path, text):
    s = Store(str(tmp_path / "m.db"))
    s.add_memories("u", "Leo", ["Leo runs in Berlin", "Leo and Ann"], np.stack([unit(1), unit(2)]))
    hits = s.search("u", unit(3), 5, text=text)
    assert {h.text for h in hits} <= {"Leo runs in Berlin", "Leo and Ann"}
    q = keyword_query(query_words(text))
    assert q is None or all(part.startswith('"') and part.endswith('"') for part in q.split(" OR "))
    assert len(s.memories("u")) == 2  # nothing changed
    s.close()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_a_valid_keyword_query(text):
    """Whatever the user types, the FTS5 query parses and matches only words of the text."""
    conn = sqlite_module().connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE f USING fts5(text, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO f VALUES ('leo runs in berlin')")
    q = keyword_query(query_words(text))
    if q is not None:
        rows = list(conn.execute("SELECT rowid FROM f WHERE f MATCH ?", (q,)))
        assert rows in ([], [(1,)])
    conn.close()


def test_a_forgotten_or_deleted_memory_takes_its_source_turn_out_of_search(tmp_path):
    """Forgetting "Sam is allergic to cats" must not leave "I'm allergic to cats" answerable from the raw
    turn; restoring the memory brings the turn back (both kinds of search, both removals)."""
    s = Store(str(tmp_path / "m.db"))
    t1 = s.apply_turn(
        "u",
        Turn("Sam", "I'm allergic to cats", None, "s", "1"),
        unit(1),
        [PlannedOp("ADD", text="Sam is allergic to cats", vector=unit(2))],
    )
    t2 = s.apply_turn("u", Turn("Sam", "I like tea", None, "s", "2"), unit(3), [])
    (m,) = s.memories("u")

    def turns(text=None):
        return {h.id for h in s.search_turns("u", unit(1), 5, text=text)}

    assert turns() == turns("allergic cats") | {t2} == {t1, t2}
    s.forget("u", m.id)
    assert turns() == {t2} and t1 not in turns("allergic cats")
    s.restore("u", m.id, unit(2))
    assert turns() == {t1, t2}
    s.apply_turn("u", Turn("Sam", "not anymore", None, "s", "3"), None, [PlannedOp("DELETE", m.id)])
    assert t1 not in turns() and t1 not in turns("allergic")
    s.close()


def test_turns_of_memories_deleted_before_the_migration_are_hidden(tmp_path):
    path = tmp_path / "old.db"
    conn = old_store(path, 3)
    conn.execute(
        "INSERT INTO turns (user, source, key, speaker, text, created_at) VALUES ('u', 's', '1', 'Sam', 'I live in Oslo', 't')"
    )
    conn.execute(
        "INSERT INTO memories (user, speaker, text, created_at, updated_at, deleted, source_turn) "
        "VALUES ('u', 'Sam', 'Sam lives in Oslo', 't', 't', 1, 1)"
    )
    conn.close()
    s = Store(str(path))
    assert keyword_ids(s, "u", "Oslo", "turn") == []
    s.close()


def test_keyword_search_leaves_out_words_in_too_many_documents(tmp_path, monkeypatch):
    """A keyword query reads at most MAX_QUERY_POSTINGS documents holding its words, the rarest words
    first: a common word that does not fit is not looked for (the cost of scoring every document it
    matches, for almost no BM25 weight), and a question of common words only falls back to the dense ranking."""
    from edgemem import store as store_module

    monkeypatch.setattr(store_module, "MAX_QUERY_POSTINGS", 3)
    s = Store(str(tmp_path / "m.db"))
    texts = [f"Leo walked the dog on day {i}" for i in range(5)] + ["Leo adopted a dog named Biscuit"]
    s.add_memories("u", "Leo", texts, np.stack([unit(i + 1) for i in range(6)]))
    assert s._keyword("memory", "u", "walked Biscuit", 10, None) == [6]  # "walked" is in 5 documents
    assert s._keyword("memory", "u", "walked dog", 10, None) == []
    monkeypatch.setattr(store_module, "MAX_QUERY_POSTINGS", 4000)
    assert set(s._keyword("memory", "u", "walked dog", 10, None)) == set(range(1, 7))
    assert len(s.search("u", unit(2), 3, text="walked dog")) == 3  # dense alone when no keyword is left
    s.close()


@pytest.mark.parametrize(
    "words, docs, cap, kept",
    [
        (["leo", "run", "berlin"], {"leo": 5, "run": 900, "berlin": 3}, 100, ["leo", "berlin"]),
        (["leo", "run"], {"leo": 5, "run": 95}, 100, ["leo", "run"]),  # exactly the cap fits
        (["the", "a"], {"the": 500, "a": 400}, 100, []),  # only common words: none kept
        (["zzz", "leo"], {"leo": 200}, 100, ["zzz"]),  # a word no document holds costs nothing
        (["b", "a"], {"a": 10, "b": 10}, 10, ["b"]),  # ties: the question's order
        ([], {}, 100, []),
    ],
)
def test_rarest_words(words, docs, cap, kept):
    from edgemem.store import rarest_words

    assert rarest_words(words, docs, cap) == kept


def test_turn_vectors_embed_the_time_and_speaker(tmp_path, embedder):
    """A stored turn's vector is the embedding of "[time] speaker: text", so a question naming the
    speaker or the date finds it."""
    from fakes import ScriptedEngine

    from edgemem import Memory
    from edgemem.store import Turn

    assert Turn("Mia", "I moved.", "1 May 2023").vector_text() == "[1 May 2023] Mia: I moved."
    assert Turn("Mia", "I moved.").vector_text() == "Mia: I moved."
    with Memory(tmp_path / "m.db", user="u", engine=ScriptedEngine(), embedder=embedder, background=False) as mem:
        t = mem.add("I moved to Porto.", speaker="Mia", time="1 May 2023")
        mem.ingest([Turn("Leo", "I run.", "2 May 2023", "chat", "1")], wait=False)
        stored = {
            int(r[0]): np.frombuffer(r[1], dtype="<f4")
            for r in mem.store.conn.execute("SELECT turn_id, embedding FROM turn_vectors")
        }
    assert np.allclose(stored[t.turn_id], embedder.embed_one("[1 May 2023] Mia: I moved to Porto."), atol=1e-6)
    assert np.allclose(stored[t.turn_id + 1], embedder.embed_one("[2 May 2023] Leo: I run."), atol=1e-6)


def test_turns_stored_before_are_re_embedded_when_opened(tmp_path, embedder):
    """A store at schema m009 (turn vectors of the text alone): opening it with Memory applies m010 and
    re-embeds every turn as "[time] speaker: text", once, with the vector indexes told."""
    from fakes import ScriptedEngine

    from edgemem import Memory
    from edgemem.db import encode

    path = tmp_path / "old.db"
    conn = old_store(path, 9)
    for i, (speaker, text) in enumerate([("Ines", "I moved to Porto"), ("Rui", "I run on Sundays")], start=1):
        conn.execute(
            "INSERT INTO turns (user, source, key, speaker, text, time, created_at, pending) "
            "VALUES ('u', 's', ?, ?, ?, '3 May 2023', 't', 0)",
            (str(i), speaker, text),
        )
        conn.execute(
            "INSERT INTO turn_vectors (turn_id, user, embedding) VALUES (?, 'u', ?)",
            (i, encode(embedder.embed_one(text))),
        )
    conn.close()
    with Memory(path, user="u", engine=ScriptedEngine(), embedder=embedder, background=False) as mem:
        rows = dict(mem.store.conn.execute("SELECT turn_id, embedding FROM turn_vectors").fetchall())
        assert np.allclose(
            np.frombuffer(rows[1], dtype="<f4"), embedder.embed_one("[3 May 2023] Ines: I moved to Porto"), atol=1e-6
        )
        assert np.allclose(
            np.frombuffer(rows[2], dtype="<f4"), embedder.embed_one("[3 May 2023] Rui: I run on Sundays"), atol=1e-6
        )
        assert mem.store.turns_to_reembed(10) == []
        hits = mem.store.search_turns("u", embedder.embed_one("[3 May 2023] Rui: I run on Sundays"), 1)
        assert [h.id for h in hits] == [2] and hits[0].score > 0.99
    # opened again: nothing left to do, the vectors stay
    with Memory(path, user="u", engine=ScriptedEngine(), embedder=embedder, background=False) as mem:
        assert dict(mem.store.conn.execute("SELECT turn_id, embedding FROM turn_vectors").fetchall()) == rows
