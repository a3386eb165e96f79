"""The store on a real file with real vectors. Run: .venv/bin/pytest tests/test_store.py"""

import numpy as np
import pytest

from edgemem.errors import DatabaseError, UnknownMemory
from edgemem.store import NEXT_KEY_SQL, PlannedOp, Store, Turn


def unit(seed):
    v = np.random.default_rng(seed).normal(size=384).astype(np.float32)
    return v / np.linalg.norm(v)


@pytest.fixture
def store(tmp_path):
    s = Store(str(tmp_path / "m.db"))
    yield s
    s.close()


def test_apply_turn_and_search(store):
    store.apply_turn(
        "u", Turn("Sam", "hi", "t1", "s", "1"), unit(0), [PlannedOp("ADD", text="Sam likes tea", vector=unit(1))]
    )
    store.apply_turn(
        "v", Turn("Ann", "hi", "t1", "s", "1"), unit(0), [PlannedOp("ADD", text="Ann likes tea", vector=unit(1))]
    )
    hits = store.search("u", unit(1), 5)
    assert [h.text for h in hits] == ["Sam likes tea"]  # the other user's identical vector is not visible
    assert hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert store.search("u", unit(1), 5, speaker="Nobody") == []
    assert store.has_turn("u", "s", "1") and not store.has_turn("u", "s", "2")
    assert [h.op for h in store.history("u")] == ["ADD"]


def test_update_delete_restore_history(store):
    t = store.apply_turn(
        "u", Turn("Sam", "a", None, "s", "1"), None, [PlannedOp("ADD", text="Sam lives in Oslo", vector=unit(1))]
    )
    mid = store.memories("u")[0].id
    store.apply_turn(
        "u", Turn("Sam", "b", None, "s", "2"), None, [PlannedOp("UPDATE", mid, "Sam lives in Rome", unit(2))]
    )
    assert store.get("u", mid).text == "Sam lives in Rome"
    assert store.search("u", unit(2), 1)[0].id == mid  # the vector moved with the text
    store.apply_turn("u", Turn("Sam", "c", None, "s", "3"), None, [PlannedOp("DELETE", mid)])
    assert store.memories("u") == [] and store.search("u", unit(2), 5) == []
    assert store.get("u", mid).deleted
    store.restore("u", mid, unit(2))
    assert store.search("u", unit(2), 1)[0].id == mid
    ops = [(h.op, h.old_text, h.new_text) for h in store.history("u", mid)]
    assert ops == [
        ("ADD", None, "Sam lives in Oslo"),
        ("UPDATE", "Sam lives in Oslo", "Sam lives in Rome"),
        ("DELETE", "Sam lives in Rome", None),
        ("RESTORE", None, "Sam lives in Rome"),
    ]
    assert store.history("u", limit=2)[-1].op == "RESTORE"
    assert t > 0


def test_turn_is_atomic(store):
    """A failure in the middle of a turn's operations leaves no trace of the turn."""
    ops = [PlannedOp("ADD", text="kept?", vector=unit(1)), PlannedOp("ADD", text="bad", vector=np.zeros(3))]
    with pytest.raises(DatabaseError):
        store.apply_turn("u", Turn("Sam", "x", None, "s", "1"), unit(0), ops)
    assert store.count("u") == {"memories": 0, "turns": 0, "history": 0, "pending": 0}
    assert not store.has_turn("u", "s", "1")


def test_forget_unknown_and_other_user(store):
    store.apply_turn("u", Turn("Sam", "a", None, "s", "1"), None, [PlannedOp("ADD", text="secret", vector=unit(1))])
    mid = store.memories("u")[0].id
    with pytest.raises(UnknownMemory, match="No memory with id 999"):
        store.forget("u", 999)
    with pytest.raises(UnknownMemory):
        store.forget("intruder", mid)  # another user's id does not resolve
    assert store.forget("u", mid).deleted
    assert store.history("u", mid)[-1].op == "FORGET"


def test_reset_only_one_user(store):
    for user in ("u", "v"):
        store.apply_turn(user, Turn("S", "a", None, "s", "1"), unit(0), [PlannedOp("ADD", text="m", vector=unit(1))])
    assert store.users() == ["u", "v"]
    assert store.reset("u") == 1
    assert store.users() == ["v"]
    assert store.count("u") == {"memories": 0, "turns": 0, "history": 0, "pending": 0}
    assert store.count("v")["memories"] == 1 and len(store.search_turns("v", unit(0), 3)) == 1


def test_search_at_scale(store):
    """Many memories across users: partition keeps results inside the user, nearest first."""
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(600, 384)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    for i in range(0, 600, 100):
        ops = [PlannedOp("ADD", text=f"m{j}", vector=vecs[j]) for j in range(i, i + 100)]
        store.apply_turn("u" if i < 300 else "v", Turn("S", "x", None, "s", str(i)), None, ops)
    hits = store.search("u", vecs[42], 10)
    assert hits[0].text == "m42" and all(int(h.text[1:]) < 300 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_memories_before_replays_history(store):
    t1 = store.apply_turn(
        "u",
        Turn("Sam", "a", "day 1", "s", "1"),
        None,
        [PlannedOp("ADD", text="Sam lives in Oslo", vector=unit(1))],
        ["f"],
    )
    mid = store.memories("u")[0].id
    t2 = store.apply_turn(
        "u", Turn("Sam", "b", "day 2", "s", "2"), None, [PlannedOp("UPDATE", mid, "Sam lives in Rome", unit(2))]
    )
    t3 = store.apply_turn(
        "u", Turn("Sam", "c", "day 3", "s", "3"), None, [PlannedOp("ADD", text="Sam has a cat", vector=unit(3))]
    )
    t4 = store.apply_turn("u", Turn("Sam", "d", "day 4", "s", "4"), None, [PlannedOp("DELETE", mid)])
    t5 = store.apply_turn("u", Turn("Sam", "e", "day 5", "s", "5"), None, [])
    assert store.memories_before("u", t1) == []
    assert [(m.text, m.time) for m in store.memories_before("u", t2)] == [("Sam lives in Oslo", "day 1")]
    assert [(m.text, m.time) for m in store.memories_before("u", t3)] == [("Sam lives in Rome", "day 2")]
    assert [m.text for m in store.memories_before("u", t4)] == ["Sam lives in Rome", "Sam has a cat"]
    assert [m.text for m in store.memories_before("u", t5)] == ["Sam has a cat"]
    assert store.turn_row("u", "s", "1")[2] == ["f"] and store.turn_row("u", "s", "9") is None


def test_as_of_is_the_bank_at_that_turn(store):
    """The streaming benchmark's view: memories replayed (re-embedded), only earlier raw turns."""
    t1 = store.apply_turn(
        "u",
        Turn("Sam", "I live in Oslo", "day 1", "s", "1"),
        unit(5),
        [PlannedOp("ADD", text="Sam lives in Oslo", vector=unit(1))],
    )
    mid = store.memories("u")[0].id
    t2 = store.apply_turn(
        "u",
        Turn("Sam", "Moved to Rome", "day 2", "s", "2"),
        unit(6),
        [PlannedOp("UPDATE", mid, "Sam lives in Rome", unit(2))],
    )
    embedded: list[str] = []

    def embed(texts):
        embedded.extend(texts)
        return np.stack([unit(7) for _ in texts])

    snap = store.as_of("u", t2, embed)
    assert [m.text for m in snap.memories("u")] == ["Sam lives in Oslo"] and embedded == ["Sam lives in Oslo"]
    assert [h.text for h in snap.search_turns("u", unit(5), 10)] == ["I live in Oslo"]  # not the later turn
    assert snap.search("u", unit(7), 1)[0].id == mid  # searchable, under its own id
    now = store.as_of("u", None, embed)
    assert [m.text for m in now.memories("u")] == ["Sam lives in Rome"] and len(now.search_turns("u", unit(6), 10)) == 2
    assert store.as_of("u", t1, embed).memories("u") == []
    assert [m.text for m in store.memories("u")] == ["Sam lives in Rome"]  # the file is untouched


def test_the_next_live_key_is_one_index_lookup(store):
    plan = store._q("EXPLAIN QUERY PLAN " + NEXT_KEY_SQL, ("u", ""))
    assert "turns_numeric_key" in plan[0][3]
    store.store_turns("u", [Turn("S", "x", None, "", k) for k in ("9", "10", "note")], np.stack([unit(0)] * 3))
    assert store.next_key("u", "") == "11" and store.next_key("u", "other") == "1"
