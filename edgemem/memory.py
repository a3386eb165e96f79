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
from .config import MemoryConfig
from .context import DEFAULT_BUDGET_TOKENS, Context, build_context
from .embedder import Embedder
from .engine import Engine, LlamaEngine
from .errors import InvalidInput
from .manager import MemoryManager, TurnResult
from .manifest import served_model
from .store import HistoryEntry, MemoryItem, SearchHit, Store, Turn


@dataclass
class IngestResult:
    """Totals of one ``ingest`` call."""

    source: str
    processed: int = 0
    skipped: int = 0  # already in the store (a resumed ingest)
    results: list[TurnResult] = field(default_factory=list)
    seconds: float = 0.0


class Memory:
    """A memory store: one SQLite file, one embedder, one llama.cpp model shared by both agents.

    The LLM is loaded on first use, so ``search``, ``memories`` and ``history`` stay fast.
    Safe to share between threads of one process.
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
        self._turn_lock = threading.Lock()  # one turn at a time: the manager reads, then writes

    @classmethod
    def open(cls, path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Memory:
        return cls(path, **kwargs)

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
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
                adapters: dict[str, str | Path] = {**served.adapters, **self.config.adapters}
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
    ) -> TurnResult:
        """Remember one message: extract its facts and let the Memory Manager update the bank.

        Args:
            text: the message.
            speaker: who said it; each speaker has an own memory bank.
            time: when it was said, in the dialogue (any readable form; shown to the agents).
            user: the store's owner (default: this Memory's user).
            source, key: where the message comes from; a (source, key) seen before is skipped.
        """
        user = _check_user(user or self.user)
        if not isinstance(text, str) or not text.strip():
            raise InvalidInput(f"The message is empty ({text!r}). Fix: pass some text to remember.")
        if not isinstance(speaker, str) or not speaker.strip():
            raise InvalidInput(f"The speaker is empty ({speaker!r}). Fix: name who said the message.")
        with self._turn_lock:
            if key is not None and self.store.has_turn(user, source, key):
                return TurnResult(speaker, text, skipped=True)
            turn = Turn(
                speaker.strip(), self._fit(text.strip()), time, source, key or self.store.next_key(user, source)
            )
            # The previous message is read only when extraction is shown it (one query less per turn).
            previous = self.store.last_turn(user, source) if self.config.context_messages > 0 else None
            result = self.manager.process(user, turn, previous)
        if turn.text != text.strip():
            result.warnings.insert(0, f"message truncated to {self.config.max_message_tokens} tokens")
        return result

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
    ) -> IngestResult:
        """Add many messages in order. Turns already stored (same source and key) are skipped, so an
        interrupted ingest resumes where it stopped."""
        t0 = time.perf_counter()
        turns = list(turns)
        out = IngestResult(source=turns[0].source if turns else "")
        for t in turns:
            r = self.add(t.text, speaker=t.speaker, time=t.time, user=user, source=t.source, key=t.key or None)
            if r.skipped:
                out.skipped += 1
            else:
                out.processed += 1
                out.results.append(r)
            if on_turn is not None:
                on_turn(r)
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
        dates: the context a host assistant gives its own model. No LLM involved."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidInput("The question is empty. Fix: pass the question the context is for.")
        question = question.strip()
        vector = self.embedder.embed_one(question)
        return build_context(
            self.store,
            _check_user(user or self.user),
            question,
            vector,
            budget_tokens,
            hybrid=self.config.search == "hybrid",
        )

    def answer(
        self,
        question: str,
        *,
        k: int | None = None,
        user: str | None = None,
        on_token: Callable[[str], None] | None = None,
    ) -> Answer:
        """Answer ``question`` from the memories (Memory-R1's Answer Agent); ``on_token`` receives
        the answer text as it is generated."""
        return self.answer_agent.answer(_check_user(user or self.user), question, k, on_token)

    def memories(
        self, *, speaker: str | None = None, include_deleted: bool = False, user: str | None = None
    ) -> list[MemoryItem]:
        return self.store.memories(_check_user(user or self.user), speaker, include_deleted)

    def history(
        self, memory_id: int | None = None, *, limit: int | None = None, user: str | None = None
    ) -> list[HistoryEntry]:
        return self.store.history(_check_user(user or self.user), memory_id, limit)

    def stats(self, *, user: str | None = None) -> dict[str, int]:
        return self.store.count(_check_user(user or self.user))


def _check_user(user: Any) -> str:
    if not isinstance(user, str) or not user.strip():
        raise InvalidInput(f"The user name is empty ({user!r}). Fix: pass user='someone'.")
    return user.strip()
