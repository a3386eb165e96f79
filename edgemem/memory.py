"""``Memory``: the one facade over a memory store. Everything the CLI and the server do goes through it.

with Memory.open("memory.db", user="alice") as mem:
    mem.add("I moved to Lisbon last week", speaker="alice", time="2025-03-02")
    print(mem.answer("Where does alice live?").answer)
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .answer import Answer, AnswerAgent
from .config import ANSWER_ADAPTERS, MemoryConfig
from .consolidator import Consolidator, ModelGate, YieldingEngine
from .context import DEFAULT_BUDGET_TOKENS, Context, build_context
from .embedder import Embedder
from .engine import Engine, LlamaEngine
from .errors import InvalidInput
from .manager import MemoryManager, TurnResult
from .manifest import is_manifest, served_model
from .models import shipped_adapters
from .store import HistoryEntry, MemoryItem, SearchHit, Store, Turn
from .unmentioned import unmentioned

INGEST_BATCH = 64  # turns embedded and stored per transaction by ``ingest``


@dataclass
class IngestResult:
    """Totals of one ``ingest`` call."""

    source: str
    processed: int = 0  # consolidated by this call (a resumed ingest includes turns stored before)
    skipped: int = 0  # already in the store (a resumed ingest)
    stored: int = 0  # new turns stored by this call
    pending: int = 0  # turns of the user still waiting for the consolidator when the call returned
    results: list[TurnResult] = field(default_factory=list)
    seconds: float = 0.0


class Memory:
    """A memory store: one SQLite file, one embedder, one llama.cpp model shared by both agents.

    The LLM is loaded on first use, so ``search``, ``memories`` and ``history`` stay fast.
    ``add`` stores the message and returns; a consolidator thread extracts its facts and runs the Memory
    Manager in the background (``add(wait=True)`` does it before returning). Safe to share between
    threads of one process; several processes may share the file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        user: str = "default",
        config: MemoryConfig | None = None,
        engine: Engine | None = None,
        embedder: Embedder | None = None,
        **settings: Any,
    ) -> None:
        """Args:
        path: the database file (created if missing); None keeps everything in memory.
        user: whose memories the methods read and write unless they are given ``user=``.
        config: settings; keyword ``settings`` override single fields (e.g. ``model="smollm2-135m"``).
        engine, embedder: ready-made components (tests, or sharing one model between stores).
        """
        self.config = replace(config or MemoryConfig(), **settings)
        self.user = _check_user(user)
        self.path = None if path is None else Path(path)
        self.store = Store(None if path is None else str(path))
        self._engine = engine
        self._owns_engine = engine is None  # close() frees only a model this Memory loaded itself
        self._embedder = embedder
        self._init_lock = threading.Lock()
        self._turn_lock = threading.Lock()  # one message stored at a time: the key is read, then written
        self.gate = ModelGate()
        self._closed = False
        self.consolidator = Consolidator(
            self.store, self._manager_for, self.config.context_messages, self.config.extract_batch
        )
        self._reembed_turns()

    def _reembed_turns(self) -> None:
        """Give the turns stored before turn vectors held the speaker and time (migration m010) their new
        vectors: once per file, in batches (a stopped run goes on at the next open); nothing to do, one query."""
        while batch := self.store.turns_to_reembed(INGEST_BATCH * 4):
            vectors = self.embedder.embed([t.vector_text() for _, _, t in batch])
            self.store.replace_turn_vectors([(i, u) for i, u, _ in batch], vectors)

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Memory:
        return cls(path, **kwargs)

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Finish the model call in progress and close; turns not consolidated yet stay queued in the file.
        Closing twice is harmless."""
        if self._closed:
            return
        self._closed = True
        self.consolidator.close()
        self.store.close()
        if self._owns_engine and isinstance(self._engine, LlamaEngine):
            self._engine.close()

    # -- components, loaded lazily -----------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        with self._init_lock:
            if self._embedder is None:
                self._embedder = Embedder(threads=self.config.embed_threads)
            return self._embedder

    @property
    def engine(self) -> Engine:
        with self._init_lock:
            if self._engine is None:
                served = served_model(self.config.model)
                adapters: dict[str, str | Path]
                if (
                    self.config.adapters is None
                ):  # the defaults: a manifest's, else the trained ones installed for the model
                    manifest = is_manifest(self.config.model)
                    adapters = dict(served.adapters if manifest else shipped_adapters(self.config.model))
                else:
                    adapters = {**served.adapters, **self.config.adapters}
                fmt = self.config.answer_format
                other = next(f for f in ANSWER_ADAPTERS if f != fmt)
                if (
                    ANSWER_ADAPTERS[other] in adapters
                    and ANSWER_ADAPTERS[fmt] not in adapters
                    and (served.adapters or self.config.adapters)
                ):
                    # an answer adapter the user chose (a manifest's, or named) learnt the other format
                    warnings.warn(
                        f"The {ANSWER_ADAPTERS[other]} adapter {adapters[ANSWER_ADAPTERS[other]]} serves "
                        f"{other} answers only, not {fmt} ones. Fix: answer_format={other!r} (the format it "
                        f"learnt), or an {ANSWER_ADAPTERS[fmt]!r} adapter.",
                        stacklevel=2,
                    )
                self._engine = LlamaEngine(
                    served.model,
                    n_ctx=self.config.n_ctx,
                    threads=self.config.threads,
                    adapters=adapters,
                    constrained=self.config.constrained,
                )
            return self._engine

    @property
    def manager(self) -> MemoryManager:
        return MemoryManager(self.engine, self.embedder, self.store, self.config)

    def _manager_for(self, background: bool) -> MemoryManager:
        """The manager a consolidation step runs with: in the background, on an engine that lets answers first."""
        if not background:
            return self.manager
        engine = YieldingEngine(self.engine, self.gate, self.consolidator.stop_event, self.config.background_threads)
        return MemoryManager(engine, self.embedder, self.store, self.config)

    @property
    def answer_agent(self) -> AnswerAgent:
        return AnswerAgent(self.engine, self.embedder, self.store, self.config)

    # -- writing -------------------------------------------------------------------------------------

    def add(
        self,
        text: str,
        *,
        speaker: str = "user",
        time: str | None = None,
        user: str | None = None,
        source: str = "",
        key: str | None = None,
        wait: bool = False,
    ) -> TurnResult:
        """Remember one message. It is stored with its vector and keyword index at once (searchable and
        used by answers from then on) and queued; the consolidator extracts its facts and lets the Memory
        Manager update the bank in the background.

        Args:
            text: the message.
            speaker: who said it; each speaker has an own memory bank.
            time: when it was said, in the dialogue (any readable form; shown to the agents).
            user: the store's owner (default: this Memory's user).
            source, key: where the message comes from; a (source, key) seen before is skipped.
            wait: consolidate before returning (the queue up to this message) and return its operations.

        Returns the stored turn (``turn_id``, ``pending``); with ``wait``, its facts and operations too.
        """
        user = _check_user(user or self.user)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"The message is empty ({text!r}). Fix: pass some text to remember.")
        if not isinstance(speaker, str) or not speaker.strip():
            raise InvalidInput(f"The speaker is empty ({speaker!r}). Fix: name who said the message.")
        fitted = self._fit(text.strip())
        vector = self.embedder.embed_one(Turn(speaker.strip(), fitted, time).vector_text())
        with self._turn_lock:
            if key is not None and self.store.has_turn(user, source, key):
                return TurnResult(speaker, text, skipped=True)
            turn = Turn(speaker.strip(), fitted, time, source, key or self.store.next_key(user, source))
            turn_id = self.store.store_turn(user, turn, vector)
        if wait:
            result = self.consolidator.until_done(user, turn_id)
        else:
            result = TurnResult(turn.speaker, turn.text, turn_id=turn_id, pending=True)
            self.start_consolidator()
        if turn.text != text.strip():
            result.warnings.insert(0, f"message truncated to {self.config.max_message_tokens} tokens")
        return result

    def start_consolidator(self) -> None:
        """Consolidate queued messages in a background thread from now on (``add`` starts it; a server
        starts it at once, so a queue left by an interrupted process resumes). Not with ``background=False``."""
        if not self.config.background:
            return
        self.consolidator.start()
        self.consolidator.wake()

    def flush(self, timeout: float | None = None, *, user: str | None = None) -> int:
        """Consolidate queued messages (of ``user``; None: of every user) until none is left or ``timeout``
        seconds have passed. Returns how many are still pending (0: done)."""
        return self.consolidator.drain(None if user is None else _check_user(user), timeout)

    def _fit(self, text: str) -> str:
        """Cut a message that would not fit the model's context (with a warning)."""
        limit = self.config.max_message_tokens
        if len(text) <= limit * 2 or self.engine.count_tokens(text) <= limit:
            return text
        lo, hi = 0, len(text)
        while lo < hi:  # the longest prefix within the token limit
            mid = (lo + hi + 1) // 2
            if self.engine.count_tokens(text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        warnings.warn(f"A message of {len(text)} characters was truncated to {lo} to fit the context.", stacklevel=3)
        return text[:lo]

    def ingest(
        self,
        turns: Iterable[Turn],
        *,
        user: str | None = None,
        on_turn: Callable[[TurnResult], None] | None = None,
        on_stored: Callable[[int, int], None] | None = None,
        wait: bool = True,
    ) -> IngestResult:
        """Add many messages in order: all are stored first (searchable at once), then consolidated in
        this thread (``wait``, the default) or in the background. Turns already stored (same source and
        key) are skipped, so an interrupted ingest resumes where it stopped.

        ``on_turn`` receives each skipped turn and each consolidated one; ``on_stored(stored, pending)``
        is called once all are stored, with the user's queue length then."""
        t0 = time.perf_counter()
        user = _check_user(user or self.user)
        turns = list(turns)
        out = IngestResult(source=turns[0].source if turns else "")
        new: list[Turn] = []
        seen: set[tuple[str, str]] = set()
        for t in turns:
            if (
                not isinstance(t.text, str)
                or not t.text.strip()
                or not isinstance(t.speaker, str)
                or not t.speaker.strip()
            ):
                raise InvalidInput(
                    f"A message to ingest has no text or no speaker ({t!r}). Fix: give every message both; "
                    "nothing of this call was stored."
                )
        for t in turns:
            if t.key and ((t.source, t.key) in seen or self.store.has_turn(user, t.source, t.key)):
                out.skipped += 1
                if on_turn is not None:
                    on_turn(TurnResult(t.speaker, t.text, skipped=True))
            else:
                new.append(t)
                seen.add((t.source, t.key))
        for i in range(0, len(new), INGEST_BATCH):
            batch = [replace(t, text=self._fit(t.text.strip())) for t in new[i : i + INGEST_BATCH]]
            vectors = self.embedder.embed([t.vector_text() for t in batch])
            with self._turn_lock:
                counters: dict[str, int] = {}  # live messages (no key) are numbered on from the store's count
                keyed: list[Turn] = []
                for t in batch:
                    if not t.key:
                        n = counters.get(t.source) or int(self.store.next_key(user, t.source))
                        counters[t.source] = n + 1
                        t = replace(t, key=str(n))
                    keyed.append(t)
                self.store.store_turns(user, keyed, vectors)
            out.stored += len(batch)
        if on_stored is not None:
            on_stored(out.stored, self.store.pending_count(user))
        if wait:

            def done(r: TurnResult) -> None:
                out.processed += 1
                out.results.append(r)
                if on_turn is not None:
                    on_turn(r)

            self.consolidator.drain(user, on_turn=done)
        else:
            self.start_consolidator()
        out.pending = self.store.pending_count(user)
        out.seconds = time.perf_counter() - t0
        return out

    def forget(self, memory_id: int, *, user: str | None = None) -> MemoryItem:
        """Delete one memory (soft: history keeps its text and :meth:`restore` brings it back)."""
        return self.store.forget(_check_user(user or self.user), int(memory_id))

    def restore(self, memory_id: int, *, user: str | None = None) -> MemoryItem:
        """Undo a DELETE or FORGET, with the copies of the fact that were deleted with it."""
        user = _check_user(user or self.user)
        item = self.store.get(user, int(memory_id))
        copies = self.store.forgotten_copies(user, item.id) if item.deleted else []
        vectors = self.embedder.embed([item.text, *(m.text for m in copies)])
        return self.store.restore(
            user, item.id, vectors[0], {m.id: v for m, v in zip(copies, vectors[1:], strict=True)}
        )

    def reset(self, *, user: str | None = None) -> int:
        """Remove all of a user's memories, turns and history. Returns the number of memories removed."""
        return self.store.reset(_check_user(user or self.user))

    def export_memories(self, *, user: str | None = None) -> dict[str, Any]:
        """Everything stored for a user (messages, memories, history) as JSON-ready data."""
        return self.store.export_user(_check_user(user or self.user))

    def import_memories(self, data: dict[str, Any], *, user: str | None = None) -> dict[str, int]:
        """Add an export (from this or another store) to a user; all in one transaction."""
        if not isinstance(data, dict) or data.get("format") != 1 or not isinstance(data.get("memories"), list):
            raise InvalidInput(
                "Not an edgemem export (format 1 with a memories list). Fix: pass a file written by `edgemem export-memories`."
            )
        live = [m for m in data["memories"] if isinstance(m, dict) and not m.get("deleted")]
        try:
            vectors = dict(
                zip((int(m["id"]) for m in live), self.embedder.embed([str(m["text"]) for m in live]), strict=True)
            )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput(
                f"Not an edgemem export ({e}). Fix: pass a file written by `edgemem export-memories`."
            ) from e
        return self.store.import_user(_check_user(user or self.user), data, vectors)

    # -- reading -------------------------------------------------------------------------------------

    def search(
        self, query: str, k: int = 10, *, speaker: str | None = None, user: str | None = None
    ) -> list[SearchHit]:
        """The ``k`` memories that best match ``query`` (no LLM involved): hybrid (vectors and keywords
        fused) or dense, as ``config.search`` says; each hit's ``score`` is its cosine similarity."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("The search query is empty. Fix: pass some text to search for.")
        if k < 1:
            raise InvalidInput(f"k must be at least 1, got {k}.")
        text = query if self.config.search == "hybrid" else None
        vector = self.embedder.embed_one(query)
        return self.store.search(_check_user(user or self.user), vector, k, speaker=speaker, text=text)

    def context(self, question: str, *, budget_tokens: int = DEFAULT_BUDGET_TOKENS, user: str | None = None) -> Context:
        """The facts and raw messages that best match ``question``, ranked together, cut at
        ``budget_tokens`` (estimated: ~4 characters a token) and rendered in dialogue order with their
        dates: the context a host assistant gives its own model. No LLM involved. ``unmentioned``: the
        words the question is about that nothing stored mentions (edgemem/unmentioned.py)."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("The question is empty. Fix: pass the question the context is for.")
        question, user = question.strip(), _check_user(user or self.user)
        vector = self.embedder.embed_one(question)
        c = build_context(self.store, user, question, vector, budget_tokens, hybrid=self.config.search == "hybrid")
        c.unmentioned = unmentioned(self.store, user, question)
        if c.unmentioned:  # said in the block too, so a host's own model need not guess from what is missing
            c.text = "\n".join(x for x in (c.text, f"Nothing stored mentions: {', '.join(c.unmentioned)}.") if x)
        return c

    def answer(
        self,
        question: str,
        *,
        k: int | None = None,
        user: str | None = None,
        on_token: Callable[[str], None] | None = None,
        now: str | None = None,
    ) -> Answer:
        """Answer ``question`` from the memories (Memory-R1's Answer Agent); ``on_token`` receives
        the answer text as it is generated. ``now``: when the question is asked, written like the stored
        times (e.g. "28 May 2023"), for questions such as "how many days ago"; None leaves it out."""
        if now is not None and (not isinstance(now, str) or not now.strip()):
            raise InvalidInput(f"now={now!r} is not a time. Fix: a date such as '28 May 2023', or None.")
        with self.gate.foreground():  # a background consolidation waits; this waits at most for its call in progress
            return self.answer_agent.answer(
                _check_user(user or self.user), question, k, on_token, now.strip() if now else None
            )

    def memories(
        self, *, speaker: str | None = None, include_deleted: bool = False, user: str | None = None
    ) -> list[MemoryItem]:
        return self.store.memories(_check_user(user or self.user), speaker, include_deleted)

    def history(
        self, memory_id: int | None = None, *, limit: int | None = None, user: str | None = None
    ) -> list[HistoryEntry]:
        return self.store.history(_check_user(user or self.user), memory_id, limit)

    def stats(self, *, user: str | None = None) -> dict[str, int]:
        """Counts of the user's live memories, stored turns, history entries, and turns still ``pending``."""
        return self.store.count(_check_user(user or self.user))


def _check_user(user: Any) -> str:
    if not isinstance(user, str) or not user.strip():
        raise InvalidInput(f"The user name is empty ({user!r}). Fix: pass user='someone'.")
    return user.strip()
