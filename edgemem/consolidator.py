"""The consolidator: fact extraction and the Memory Manager, run in the background over the queue of
pending turns, so that ``Memory.add`` returns as soon as the raw turn is stored.

The queue is the ``turns`` table itself (``pending = 1``, migration m007): durable, in dialogue order
per user. A step takes the oldest pending turn of a user, decides its operations (model calls, no lock
on the database held meanwhile) and applies them in one transaction that also marks the turn done, but
only while this consolidator still holds the user's lease and the turn is still pending. So a crash at
any moment leaves each turn queued or fully consolidated, and two processes never both consolidate it.

One model serves both agents. Answers come first: a background step waits before each model call while
an answer is running or waiting (:class:`ModelGate`), so an answer waits at most for the call in progress.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from .engine import Completion, Engine, Messages
from .errors import DatabaseLocked, EdgememError, MissingDependency, ModelCorrupt, ModelNotFound
from .manager import Extraction, MemoryManager, TurnResult
from .store import HOST, PlannedOp, Store, Turn

log = logging.getLogger("edgemem.consolidator")

LEASE_S = 300.0  # a lease not renewed for this long is free (its owner is gone or stuck)
POLL_S = 2.0  # how often an idle consolidator looks for turns another process stored
RETRY_S = 30.0  # after an error that a later try may not have (a model that failed to load)
# Errors of the setup, not of a turn: the turn stays queued for when the model loads.
SETUP_ERRORS = (ModelNotFound, ModelCorrupt, MissingDependency, DatabaseLocked)


class ModelGate:
    """Answers first: foreground work (answers) marks itself; background calls wait until none runs."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._foreground = 0

    @contextlib.contextmanager
    def foreground(self) -> Iterator[None]:
        with self._cond:
            self._foreground += 1
        try:
            yield
        finally:
            with self._cond:
                self._foreground -= 1
                self._cond.notify_all()

    def wait_idle(self, stop: threading.Event) -> None:
        with self._cond:
            while self._foreground > 0 and not stop.is_set():
                self._cond.wait(0.1)


class YieldingEngine:
    """An engine whose calls wait for the gate first: what the background consolidator runs on."""

    def __init__(self, engine: Engine, gate: ModelGate, stop: threading.Event, threads: int | None = None) -> None:
        self.engine, self.gate, self.stop, self.threads = engine, gate, stop, threads
        self.n_ctx, self.model_id = engine.n_ctx, engine.model_id

    def complete(self, messages: Messages, **kwargs: Any) -> Completion:
        self.gate.wait_idle(self.stop)
        if self.threads is not None:
            kwargs.setdefault("threads", self.threads)
        return self.engine.complete(messages, **kwargs)

    def count_tokens(self, text: str) -> int:
        return self.engine.count_tokens(text)


class Consolidator:
    """Consolidates the pending turns of one store: step by step on request (``flush``, ``add(wait=True)``,
    ``ingest``) and in a background thread once :meth:`start` is called. One turn at a time per process."""

    def __init__(
        self,
        store: Store,
        manager: Callable[[bool], MemoryManager],
        context_messages: int = 0,
        batch: int = 1,
    ) -> None:
        """``manager(background)`` gives the manager to run a step with (on a yielding engine when background);
        ``batch``: queued turns of one session extracted in one model call (``MemoryConfig.extract_batch``)."""
        self.store = store
        self._manager = manager
        self.context_messages = context_messages
        self.batch = batch
        self.owner = f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.stop_event = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one step at a time in this process
        self._thread: threading.Thread | None = None
        self.busy_with: int | None = None  # the turn being consolidated
        self.consolidated = 0
        self.last_error: str | None = None
        self.on_result: Callable[[TurnResult], None] | None = None  # told of every turn consolidated here

    # -- one step ----------------------------------------------------------------------------------

    def step(self, user: str | None = None, *, background: bool = False) -> list[TurnResult]:
        """Consolidate the oldest pending turn of ``user`` (None: of any user whose queue this process can
        lease), with up to ``batch`` - 1 queued turns after it of the same session when batching; what was
        consolidated, in order. [] when there was nothing to do here (empty queue, or another process holds
        the lease)."""
        for u in [user] if user is not None else self.store.pending_users():
            with self._lock:
                if self.stop_event.is_set():
                    return []
                results = self._step(u, background)
            if results:
                return results
        return []

    def _step(self, user: str, background: bool) -> list[TurnResult]:
        queued = self.store.next_pending(user, self.batch)
        if not queued or not self.store.claim(user, self.owner, LEASE_S):
            return []
        # The lease is held for one step only (one turn, or one batch): the next step (here or in another
        # process) takes the next oldest turn once these are committed, so dialogue order holds and no queue
        # waits on an idle owner.
        try:
            manager = self._manager(background)  # may load the model: a setup error leaves the turns queued
            extracted = self._extract_batch(manager, queued)
            results: list[TurnResult] = []
            for turn_id, turn in queued:  # each turn applied before the next is decided (it sees its memories)
                if results and self.stop_event.is_set():
                    break  # closing: the rest of the batch stays queued
                r = self._consolidate(user, turn_id, turn, background, manager, extracted.get(turn_id))
                if r is None:
                    break
                results.append(r)
                if not self.store.claim(user, self.owner, LEASE_S):  # renewed between turns of a batch
                    break
            return results
        finally:
            self.store.release(self.owner)

    def _extract_batch(self, manager: MemoryManager, queued: list[tuple[int, Turn]]) -> dict[int, Extraction]:
        """One extraction call for the queued turns that need one, by turn id ({} when fewer than two do,
        or when the batch output cannot be read: those turns are then extracted one by one)."""
        need = [(turn_id, turn) for turn_id, turn in queued if manager.needs_extraction(turn)]
        if len(need) < 2 or self.stop_event.is_set():
            return {}
        extracted = manager.extract_batch([turn for _, turn in need])
        return {} if extracted is None else {turn_id: e for (turn_id, _), e in zip(need, extracted, strict=True)}

    def _consolidate(
        self,
        user: str,
        turn_id: int,
        turn: Turn,
        background: bool,
        manager: MemoryManager,
        extraction: Extraction | None,
    ) -> TurnResult | None:
        previous = self.store.previous_turn(user, turn_id, turn.source) if self.context_messages > 0 else None
        t0 = time.perf_counter()
        self.busy_with = turn_id
        try:
            decision = manager.decide(
                user, turn, previous, turn_id=turn_id, stopped=self.stop_event.is_set, extraction=extraction
            )
        except SETUP_ERRORS:
            raise
        except Exception as e:
            if not background:
                raise
            # A turn the pipeline cannot handle must not block the queue: it stays stored and searchable
            # as a raw turn, with the failure in its history.
            log.warning("consolidating turn %s failed: %s", turn_id, e)
            failed = PlannedOp("REJECTED", None, None, None, f"consolidation failed: {type(e).__name__}: {e}"[:2000])
            self.store.consolidate(user, turn_id, [failed], [], self.owner)
            return manager.finish(user, TurnResult(turn.speaker, turn.text, turn_id=turn_id), t0)
        finally:
            self.busy_with = None
        if decision is None:  # stopping: the turn stays queued
            return None
        if not self.store.consolidate(
            user, turn_id, decision.planned, decision.result.facts, self.owner, hide_turn=decision.forget
        ):
            return None  # the lease was lost meanwhile: the new owner consolidates it
        self.consolidated += 1
        result = manager.finish(user, decision.result, t0)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def until_done(self, user: str, turn_id: int) -> TurnResult:
        """Consolidate ``user``'s queue in this thread up to and including ``turn_id``; that turn's result."""
        while self.store.is_pending(user, turn_id):
            results = self.step(user)
            mine = [r for r in results if r.turn_id == turn_id]
            if mine:
                return mine[0]
            if not results:
                if self.stop_event.is_set():
                    break
                time.sleep(0.05)  # another process or thread holds the turn: wait for it
        return self.result_of(user, turn_id)

    def result_of(self, user: str, turn_id: int) -> TurnResult:
        """What was recorded for a turn that is no longer (or still) pending."""
        row = self.store.turn(user, turn_id)
        r = TurnResult(row.speaker, row.text, turn_id=turn_id, pending=self.store.is_pending(user, turn_id))
        r.facts = self.store.turn_facts(turn_id)
        r.operations = self.store.turn_history(user, turn_id)
        return r

    def drain(
        self,
        user: str | None = None,
        timeout: float | None = None,
        on_turn: Callable[[TurnResult], None] | None = None,
    ) -> int:
        """Consolidate in this thread until the queue (of ``user``, or of everyone) is empty or ``timeout``
        seconds have passed; the number of turns still pending."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while (left := self.store.pending_count(user)) > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return left
            results = self.step(user)
            if not results:
                if self.stop_event.is_set():
                    return self.store.pending_count(user)
                time.sleep(0.05)
            if on_turn is not None:
                for r in results:
                    on_turn(r)
        return 0

    # -- the background thread ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the background thread (once); it consolidates whatever is queued, then waits for more."""
        if self.running or self.stop_event.is_set():
            return
        self._thread = threading.Thread(target=self._run, name="edgemem-consolidator", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self.stop_event.is_set():
            self._wake.clear()
            try:
                done = self.step(background=True)
                self.last_error = None
            except Exception as e:  # the thread must not die: report, wait, try again
                self.last_error = f"{type(e).__name__}: {e}"
                log.warning("consolidator: %s (retrying in %.0f s)", self.last_error, RETRY_S)
                self.stop_event.wait(RETRY_S)
                continue
            if not done:
                self._wake.wait(POLL_S)

    def close(self) -> None:
        """Stop: the call in progress finishes, the turn it was for stays queued unless it completed."""
        self.stop_event.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(EdgememError):
            self.store.release(self.owner)
