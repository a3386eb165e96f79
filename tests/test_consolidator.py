"""Writes that never block: the queue of pending turns and the background consolidator, with deterministic
fake engines on a real database file and the real embedder. Run: .venv/bin/pytest tests/test_consolidator.py"""

from __future__ import annotations

import threading
import time
from typing import Any

from fakes import EchoEngine, RecordingEngine

from edgemem import Memory
from edgemem.consolidator import Consolidator
from edgemem.engine import Completion


class GatedEcho(EchoEngine):
    """EchoEngine whose extraction and manager calls wait until ``release`` is set; every call is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.log: list[str] = []
        self.lock = threading.Lock()  # one call at a time, like the real engine

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        key = kwargs.get("prefix_key") or "answer"
        if key != "answer":
            self.release.wait(30)
        with self.lock:
            self.log.append(key)
            if key != "answer":
                time.sleep(0.05)  # a call takes a while
            return super().complete(messages, **kwargs)


def one_history_row_per_consolidated_turn(mem: Memory) -> None:
    rows = mem.store._q("SELECT t.id, t.pending, (SELECT COUNT(*) FROM history h WHERE h.turn_id = t.id) FROM turns t")
    assert all(n == (0 if pending else 1) for _, pending, n in rows), rows


def test_add_returns_before_consolidation_and_the_turn_is_usable_at_once(make_memory):
    eng = GatedEcho()
    mem = make_memory(eng)
    r = mem.add("I adopted a puppy called Biscuit", speaker="Sam", time="2 May 2024")
    assert r.pending and r.turn_id is not None and r.operations == [] and r.llm_calls == 0
    assert mem.stats()["pending"] == 1 and mem.stats()["turns"] == 1 and mem.memories() == []
    # searchable and in the answer's context before any fact exists
    assert "Biscuit" in mem.context("What is the puppy called?").text
    assert [h.id for h in mem.store.search_turns("u", mem.embedder.embed_one("puppy"), 3)] == [r.turn_id]
    eng.release.set()
    assert mem.flush(timeout=30) == 0
    assert [m.text for m in mem.memories()] == ["Sam said: I adopted a puppy called Biscuit"]
    assert mem.stats()["pending"] == 0
    one_history_row_per_consolidated_turn(mem)


def test_wait_consolidates_the_queue_in_order_and_returns_the_operations(make_memory):
    eng = EchoEngine()
    mem = make_memory(eng)
    mem.consolidator.stop_event.set()  # no background thread: the queue waits for wait=True
    for i in range(3):
        assert mem.add(f"message {i}", speaker="Sam").pending
    mem.consolidator.stop_event.clear()
    r = mem.add("message 3", speaker="Sam", wait=True)
    assert not r.pending and [o.op for o in r.operations] == ["ADD"] and r.facts == ["Sam said: message 3"]
    assert [m.text for m in mem.memories()] == [f"Sam said: message {i}" for i in range(4)]  # dialogue order


def test_close_leaves_the_rest_queued_and_reopening_resumes(make_memory, embedder, tmp_path):
    eng = GatedEcho()
    mem = make_memory(eng, name="resume.db")
    for i in range(5):
        mem.add(f"message {i}", speaker="Sam")
    eng.release.set()
    while mem.stats()["pending"] == 5:  # the first consolidation is under way
        time.sleep(0.01)
    mem.close()  # finishes the call in progress, does not drain the queue
    with Memory(
        tmp_path / "resume.db", user="u", engine=EchoEngine(), embedder=embedder, admission_gate=False
    ) as again:
        left = again.stats()["pending"]
        assert 0 < left < 5
        one_history_row_per_consolidated_turn(again)
        assert again.flush() == 0
        assert [m.text for m in again.memories()] == [f"Sam said: message {i}" for i in range(5)]
        one_history_row_per_consolidated_turn(again)


def test_two_consolidators_on_one_file_never_consolidate_a_turn_twice(make_memory, embedder, tmp_path):
    a = make_memory(EchoEngine(), name="shared.db")
    a.consolidator.stop_event.set()
    for i in range(40):
        a.add(f"message {i}", speaker="Sam", user="u" if i % 2 else "v")
    a.consolidator.stop_event.clear()
    b = make_memory(EchoEngine(), name="shared.db")
    left: list[int] = []
    workers = [threading.Thread(target=lambda m=m: left.append(m.flush())) for m in (a, b)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert left == [0, 0]
    one_history_row_per_consolidated_turn(a)
    for user in ("u", "v"):
        texts = [m.text for m in a.memories(user=user)]
        assert texts == [f"Sam said: message {i}" for i in range(40) if (i % 2 == 1) == (user == "u")]
    assert a.consolidator.consolidated + b.consolidator.consolidated == 40


def test_a_lease_of_a_dead_process_is_taken_over(make_memory):
    mem = make_memory(EchoEngine())
    mem.consolidator.stop_event.set()
    mem.add("message", speaker="Sam")
    mem.store.claim("u", "someone-else", 300)
    mem.store._q("UPDATE consolidation_leases SET pid = 2147483000")  # no such process on this host
    mem.consolidator.stop_event.clear()
    assert mem.flush(timeout=10) == 0


def test_a_live_lease_holds_off_another_consolidator(make_memory):
    mem = make_memory(EchoEngine())
    mem.consolidator.stop_event.set()
    mem.add("message", speaker="Sam")
    assert mem.store.claim("u", "other-consolidator-here", 300)  # this very process: alive
    mem.consolidator.stop_event.clear()
    assert mem.flush(timeout=0.5) == 1  # says how many remain
    mem.store.release("other-consolidator-here")
    assert mem.flush(timeout=10) == 0


def test_an_answer_waits_at_most_for_the_call_in_progress(make_memory):
    eng = GatedEcho()
    mem = make_memory(eng)
    for i in range(8):
        mem.add(f"message {i}", speaker="Sam")
    eng.release.set()
    while not eng.log:  # the background consolidator is calling the model
        time.sleep(0.005)
    with mem.gate.foreground():  # while an answer runs or waits, no background call starts
        before = len(eng.log)
        time.sleep(0.3)  # six calls' time
        assert len(eng.log) - before <= 1, eng.log  # only the call that was in progress
        eng.log.append("ask")
        mem.answer("What did Sam say?")
    after = eng.log[eng.log.index("ask") + 1 :]
    assert "answer-plain" in after and after.index("answer-plain") <= 1, eng.log
    assert mem.flush(timeout=30) == 0


def test_a_failing_turn_does_not_block_the_queue(make_memory):
    class Failing(EchoEngine):
        def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
            if "poison" in messages[-1]["content"]:
                raise RuntimeError("the model broke")
            return super().complete(messages, **kwargs)

    mem = make_memory(Failing())
    mem.add("poison", speaker="Sam")
    mem.add("fine", speaker="Sam")
    deadline = time.time() + 30
    while mem.stats()["pending"] and time.time() < deadline:
        time.sleep(0.02)
    assert mem.stats()["pending"] == 0
    ops = [(h.op, h.detail) for h in mem.history()]
    assert ops[0][0] == "REJECTED" and "the model broke" in ops[0][1] and ops[1][0] == "ADD"
    assert mem.store.search_turns("u", mem.embedder.embed_one("poison"), 2)  # the raw turn stays


def test_ingest_stores_first_then_consolidates_and_resumes(make_memory):
    from edgemem import Turn

    mem = make_memory(EchoEngine())
    turns = [Turn("Sam", f"message {i}", None, "chat", str(i)) for i in range(6)]
    seen: list[tuple[int, int]] = []
    first = mem.ingest(turns[:4], on_stored=lambda s, p: seen.append((s, p)))
    assert (first.stored, first.processed, first.pending) == (4, 4, 0) and seen == [(4, 4)]
    again = mem.ingest(turns)
    assert (again.stored, again.skipped, again.processed) == (2, 4, 2)
    queued = mem.ingest([Turn("Sam", "later", None, "chat", "9")], wait=False)
    assert queued.stored == 1
    assert mem.flush(timeout=30) == 0 and len(mem.memories()) == 7


def test_consolidator_step_is_a_no_op_on_an_empty_queue(make_memory):
    mem = make_memory(EchoEngine())
    c = Consolidator(mem.store, mem._manager_for)
    assert c.step() == [] and c.drain() == 0
    c.close()


def test_without_background_messages_wait_for_flush(make_memory):
    mem = make_memory(EchoEngine(), background=False)
    r = mem.add("I live in Oslo", speaker="Sam")
    time.sleep(0.2)
    assert r.pending and not mem.consolidator.running and mem.stats()["pending"] == 1
    assert mem.flush() == 0 and [m.text for m in mem.memories()] == ["Sam said: I live in Oslo"]


def test_background_calls_run_on_background_threads(make_memory):
    """``background_threads``: the consolidator's calls ask the engine for that many threads; calls made
    for the caller (``add(wait=True)``) use the engine's own."""

    class ThreadLog(EchoEngine):
        def __init__(self) -> None:
            super().__init__()
            self.threads: list[int | None] = []

        def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
            self.threads.append(kwargs.pop("threads", None))
            return super().complete(messages, **kwargs)

    eng = ThreadLog()
    mem = make_memory(eng, background_threads=1)
    mem.add("I adopted a puppy called Biscuit", speaker="Sam")
    deadline = time.monotonic() + 30
    while mem.stats()["pending"] and time.monotonic() < deadline:  # the background thread's work
        time.sleep(0.05)
    assert mem.stats()["pending"] == 0 and eng.threads and set(eng.threads) == {1}
    eng = ThreadLog()
    mem = make_memory(eng, name="caller.db", background_threads=1, background=False)
    mem.add("I live in Oslo", speaker="Sam", wait=True)
    assert eng.threads and set(eng.threads) == {None}


def test_queued_turns_of_one_session_share_one_extraction_call(make_memory):
    """extract_batch: the queued turns of one session (same source and time) are extracted in one call,
    each turn's facts go to the manager on their own, in order; a new session starts a new batch."""
    from edgemem import Turn

    eng = RecordingEngine()
    mem = make_memory(eng, extract_batch=4)
    day1 = [Turn(s, f"{s} message {i}", "1 May 2023", "chat", str(i)) for i, s in enumerate("ABABA")]
    day2 = [Turn("B", "B message 5", "2 May 2023", "chat", "5")]
    res = mem.ingest(day1 + day2)
    assert res.processed == 6 and mem.stats()["pending"] == 0
    batches = [m[-1]["content"] for m in eng.sent["extract-batch"]]
    assert len(batches) == 1 and batches[0].count("\nMESSAGE ") == 4  # turns 0-3 of day 1 in one call
    assert "MESSAGE 4 by B: B message 3" in batches[0]
    singles = [m[-1]["content"] for m in eng.sent["extract"]]
    assert len(singles) == 2  # the fifth turn of day 1 (a batch of one) and day 2's turn
    assert len(eng.sent["manage"]) == 6
    by_turn = {r.text: r.facts for r in res.results}
    assert by_turn["A message 2"] == ["A said: A message 2"] and by_turn["B message 5"] == ["B said: B message 5"]
    # the batch's call is counted once, on its first turn
    assert [r.llm_calls for r in res.results] == [2, 1, 1, 1, 2, 2]
    assert sorted(m.text for m in mem.memories()) == sorted(f"{t.speaker} said: {t.text}" for t in day1 + day2)


def test_a_batch_leaves_out_what_needs_no_extraction_and_survives_a_bad_reply(make_memory):
    """Requests to forget and gated messages make no call, so they are not in the batch's prompt; a batch
    reply that cannot be read costs one call and the turns are extracted one by one."""
    from edgemem import Turn

    class BadBatch(RecordingEngine):
        def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
            if kwargs.get("prefix_key") == "extract-batch":
                self.sent.setdefault("extract-batch", []).append(messages)
                return Completion('{"1": ["only one"]}', 10, 5, 0, 0.0, 0.0, 0.0)
            return super().complete(messages, **kwargs)

    eng = BadBatch()
    mem = make_memory(eng, extract_batch=8, admission_gate=True)
    turns = [
        Turn("Leo", "I started training for the Berlin marathon in April.", "1 May 2023", "chat", "0"),
        Turn("Ana", "Wow, nice!", "1 May 2023", "chat", "1"),
        Turn("Leo", "My sister Mia lives in Lisbon and I visit her often.", "1 May 2023", "chat", "2"),
        Turn("Leo", "Please forget that my sister lives in Lisbon.", "1 May 2023", "chat", "3"),
    ]
    res = mem.ingest(turns)
    assert res.processed == 4
    (batch,) = [m[-1]["content"] for m in eng.sent["extract-batch"]]
    assert "Wow, nice!" not in batch and "forget" not in batch and batch.count("MESSAGE ") == 2
    assert len(eng.sent["extract"]) == 2  # the unreadable batch: both turns again, one by one
    assert [len(r.facts) for r in res.results] == [1, 0, 1, 0]
    assert [m.text for m in mem.memories()] == ["Leo said: I started training for the Berlin marathon in April."]


def test_extract_batch_must_be_a_batch_size(make_memory):
    import pytest

    from edgemem.errors import InvalidInput

    for bad in (0, 9, 2.0, True, "4"):
        with pytest.raises(InvalidInput, match="extract_batch"):
            make_memory(EchoEngine(), extract_batch=bad)
