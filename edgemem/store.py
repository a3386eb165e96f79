"""The memory bank on disk: memories, their vectors, raw dialogue turns and the history of every
operation, in one SQLite file. All SQL of edgemem lives here.

A turn and every operation it caused are written in one transaction (:meth:`Store.apply_turn`), so
an interrupted ingest never leaves a half-applied turn, and "the turn row exists" means "done".
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time as clock
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np

from .db import connect, encode, sqlite_module, transaction, translate
from .errors import InvalidInput, UnknownMemory
from .metrics import content_words
from .migrations import EMBEDDING_DIM
from .vector_index import VectorIndex


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class MemoryItem:
    """A stored memory."""

    id: int
    user: str
    speaker: str
    text: str
    time: str | None  # when, in the dialogue, the fact was said
    created_at: str
    updated_at: str
    deleted: bool = False


@dataclass(frozen=True)
class SearchHit:
    """A memory (or raw turn) found by similarity; ``score`` is cosine similarity in [-1, 1]."""

    id: int
    speaker: str
    text: str
    time: str | None
    score: float
    kind: str = "memory"  # "turn" (a raw message) or "version" (a memory's text before an UPDATE)
    until: str | None = None  # a version: the dialogue time it was superseded


@dataclass(frozen=True)
class HistoryEntry:
    """One row of the operation log: ADD/UPDATE/DELETE/NOOP from the manager, REJECTED for
    output that named nothing valid, FORGET/RESTORE/RESET from the user."""

    id: int
    memory_id: int | None
    op: str
    old_text: str | None
    new_text: str | None
    turn_id: int | None
    detail: str | None
    created_at: str


@dataclass(frozen=True)
class Turn:
    """One dialogue message as it arrives."""

    speaker: str
    text: str
    time: str | None = None
    source: str = ""  # e.g. a LoCoMo sample id or a file name; "" for live messages
    key: str = ""  # unique within (user, source): a dia_id, or a counter for live messages

    def vector_text(self) -> str:
        """What a turn's vector embeds: "[time] speaker: text", so a question naming the speaker or the
        date finds it (on conv-30 ten turns found this way held 62 % of the evidence turns, against 54 % for
        vectors of the text alone: experiments/answer-context-conv30)."""
        return f"[{self.time}] {self.speaker}: {self.text}" if self.time else f"{self.speaker}: {self.text}"


@dataclass(frozen=True)
class PlannedOp:
    """An operation ready to apply: ``memory_id`` is a real row id (or None for ADD / rejected)."""

    op: str  # ADD UPDATE DELETE NOOP REJECTED
    memory_id: int | None = None
    text: str | None = None
    vector: np.ndarray | None = None
    detail: str | None = None


_MEM_COLS = "id, user, speaker, text, time, created_at, updated_at, deleted"
# The largest numeric key of a (user, source): one lookup in m008's partial expression index, which this
# query must match (the same expression and the same WHERE) to be used.
NEXT_KEY_SQL = (
    "SELECT COALESCE(MAX(CAST(key AS INTEGER)), 0) FROM turns WHERE user = ? AND source = ? AND key GLOB '[0-9]*'"
)

# Reciprocal rank fusion: a hit's fused score is the sum over the rankings that hold it of 1 / (RRF_K + rank).
# 60 is the constant of the method's paper and the common default; it keeps one ranking's top hit from
# outweighing agreement between the two.
RRF_K = 60
K = TypeVar("K", bound=Hashable)
# Each ranking is drawn this many times deeper than k (at least MIN_POOL), so a hit that only one of them
# ranks high can still enter the top k.
POOL_FACTOR, MIN_POOL = 3, 30

# The vector table and id column of each kind of searchable item.
VECTOR_TABLES = {
    "memory": ("memory_vectors", "memory_id"),
    "turn": ("turn_vectors", "turn_id"),
    "version": ("version_vectors", "version_id"),
}
MAX_INDEXES = 16  # vector indexes kept in memory (kind x user); each holds 1,536 + 48 bytes per item
RELOAD_ABOVE = 2000  # changed items past which an index reloads whole (a point lookup in vec0 is ~0.25 ms)
UNKNOWN_SPEAKER = -2  # a group no item has
COPY_OF = "copy of memory "  # history detail of a memory deleted as a copy of another
HOST = socket.gethostname()
# Words that carry no topic: left out of keyword queries (BM25 would give them little weight anyway,
# but they make every row a match and the query slower).
STOPWORDS = frozenset(
    """a about after again all am an and any are as at be been before being between both but by can could
    did do does doing down during each few for from further had has have having he her here hers herself him
    himself his how i if in into is it its itself just me more most my myself no nor not now of off on once
    only or other our ours out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very was we were what when where which while
    who whom why will with would you your yours""".split()
)
MAX_QUERY_TERMS = 32
# A keyword query reads at most this many postings (documents holding one of its words): scoring every
# document its words match is what a keyword search spends its time on, and at 100k items a question's
# common words matched tens of thousands (24 ms p95). The rarest words are kept first; a common word
# that does not fit is left out (BM25 gives it almost no weight anyway). A conversation-sized store never
# reaches it, so it searches as before. (Counted over all users of the file: the cost is.)
MAX_QUERY_POSTINGS = 4000


def query_words(text: str) -> list[str]:
    """The distinct words of ``text`` a keyword query looks for (lowercased, stop words left out), at most
    ``MAX_QUERY_TERMS``.

    >>> query_words('Where did "Leo" run (the Berlin marathon)? NOT* -x')
    ['leo', 'run', 'berlin', 'marathon', 'x']
    """
    words: list[str] = []
    for w in re.findall(r"\w+", str(text).lower()):
        if w not in STOPWORDS and w not in words:
            words.append(w)
    return words[:MAX_QUERY_TERMS]


_FTS_TABLES = {"memory": "memory_fts", "turn": "turn_fts", "version": "version_fts"}


def rarest_words(words: Sequence[str], docs: dict[str, int], cap: int | None = None) -> list[str]:
    """The ``words`` a keyword query keeps, in their order: the rarest first (``docs``: how many documents
    hold each) while the documents they hold add up to at most ``cap`` (default ``MAX_QUERY_POSTINGS``).

    >>> rarest_words(["leo", "run", "berlin"], {"leo": 5, "run": 900, "berlin": 3}, cap=100)
    ['leo', 'berlin']
    """
    cap = MAX_QUERY_POSTINGS if cap is None else cap
    kept, postings = set(), 0
    for w in sorted(words, key=lambda w: docs.get(w, 0)):  # stable: ties keep the question's order
        postings += docs.get(w, 0)
        if postings > cap:
            break
        kept.add(w)
    return [w for w in words if w in kept]


def keyword_query(words: Sequence[str]) -> str | None:
    """An FTS5 query for ``words``: each word quoted (so quotes, AND / OR / NOT, NEAR, ``*``, ``-``, ``:``,
    ``^`` and parentheses in user text are plain words, never operators) and joined by OR. None when empty.

    >>> keyword_query(query_words('Where did "Leo" run (the Berlin marathon)? NOT* -x'))
    '"leo" OR "run" OR "berlin" OR "marathon" OR "x"'
    """
    return " OR ".join(f'"{w}"' for w in words) or None


def fuse(*rankings: Sequence[K]) -> list[K]:
    """Keys ordered by reciprocal rank fusion of the rankings (ties: the earlier ranking's order).

    >>> fuse([1, 2, 3], [3, 4])
    [3, 1, 2, 4]
    """
    scores: dict[K, float] = {}
    for ranking in rankings:
        for rank, i in enumerate(ranking, start=1):
            scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank)
    return sorted(scores, key=lambda i: -scores[i])


def _alive(host: str, pid: int) -> bool:
    """Whether the process that took a lease may still run (only a process on this host can be checked)."""
    if host != HOST or os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _item(row: Sequence[Any]) -> MemoryItem:
    return MemoryItem(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]))


class Store:
    """SQL over one database file. Thread-safe (one connection, one lock)."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.conn = connect(path)
        self.lock = threading.RLock()
        self._sqlite = sqlite_module()
        # (kind, user) -> (vector index, the last vector_log seq it has seen); least recently used first
        self._indexes: dict[tuple[str, str], tuple[VectorIndex, int]] = {}
        self._speakers: dict[str, int] = {}  # speaker -> group number in the memory indexes

    def close(self) -> None:
        with self.lock:
            self.conn.close()

    def _q(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self.lock:
            try:
                return list(self.conn.execute(sql, params))
            except self._sqlite.DatabaseError as e:
                raise translate(e, str(self.path)) from e
            except OverflowError as e:  # an id or limit beyond SQLite's 64-bit integers
                raise InvalidInput(
                    f"A number is out of range ({e}). Fix: pass a stored memory id or a smaller limit."
                ) from e

    # -- reads ---------------------------------------------------------------------------------------

    def has_turn(self, user: str, source: str, key: str) -> bool:
        return bool(self._q("SELECT 1 FROM turns WHERE user = ? AND source = ? AND key = ?", (user, source, key)))

    def next_key(self, user: str, source: str) -> str:
        # One more than the largest numeric key so far (imports and resets keep this unique).
        return str(int(self._q(NEXT_KEY_SQL, (user, source))[0][0]) + 1)

    def last_turn(self, user: str, source: str) -> Turn | None:
        rows = self._q(
            "SELECT speaker, text, time, source, key FROM turns WHERE user = ? AND source = ? ORDER BY id DESC LIMIT 1",
            (user, source),
        )
        return Turn(*rows[0]) if rows else None

    def get(self, user: str, memory_id: int) -> MemoryItem:
        if not -(2**63) <= memory_id < 2**63:
            raise UnknownMemory(
                f"No memory with id {memory_id} for user {user!r}. Fix: list ids with `edgemem memories`."
            )
        rows = self._q(f"SELECT {_MEM_COLS} FROM memories WHERE id = ? AND user = ?", (memory_id, user))
        if not rows:
            raise UnknownMemory(
                f"No memory with id {memory_id} for user {user!r}. Fix: list ids with `edgemem memories`."
            )
        return _item(rows[0])

    def memories(self, user: str, speaker: str | None = None, include_deleted: bool = False) -> list[MemoryItem]:
        sql = f"SELECT {_MEM_COLS} FROM memories WHERE user = ?"
        params: list[Any] = [user]
        if speaker is not None:
            sql += " AND speaker = ?"
            params.append(speaker)
        if not include_deleted:
            sql += " AND deleted = 0"
        return [_item(r) for r in self._q(sql + " ORDER BY id", params)]

    def users(self) -> list[str]:
        """Every user with a memory or a turn in this bank."""
        rows = self._q("SELECT user FROM memories UNION SELECT user FROM turns ORDER BY 1")
        return [r[0] for r in rows]

    def speakers(self, user: str) -> list[str]:
        rows = self._q("SELECT speaker, MIN(id) FROM turns WHERE user = ? GROUP BY speaker ORDER BY 2", (user,))
        seen = [r[0] for r in rows]
        for r in self._q("SELECT DISTINCT speaker FROM memories WHERE user = ? AND deleted = 0", (user,)):
            if r[0] not in seen:
                seen.append(r[0])
        return seen

    def count(self, user: str | None = None) -> dict[str, int]:
        where, params = ("WHERE user = ?", (user,)) if user is not None else ("", ())
        mems = self._q(f"SELECT COUNT(*) FROM memories {where} {'AND' if where else 'WHERE'} deleted = 0", params)[0][0]
        turns = self._q(f"SELECT COUNT(*) FROM turns {where}", params)[0][0]
        hist = self._q(f"SELECT COUNT(*) FROM history {where}", params)[0][0]
        return {"memories": mems, "turns": turns, "history": hist, "pending": self.pending_count(user)}

    def operation_counts(self, user: str | None = None) -> dict[str, int]:
        """History entries per operation (ADD, UPDATE, DELETE, NOOP, REJECTED, ...)."""
        where, params = ("WHERE user = ?", (user,)) if user is not None else ("", ())
        return dict(self._q(f"SELECT op, COUNT(*) FROM history {where} GROUP BY op ORDER BY op", params))

    def history(self, user: str, memory_id: int | None = None, limit: int | None = None) -> list[HistoryEntry]:
        sql = "SELECT id, memory_id, op, old_text, new_text, turn_id, detail, created_at FROM history WHERE user = ?"
        params: list[Any] = [user]
        if memory_id is not None:
            sql += " AND memory_id = ?"
            params.append(memory_id)
        if limit is None:
            return [HistoryEntry(*r) for r in self._q(sql + " ORDER BY id", params)]
        rows = self._q(sql + " ORDER BY id DESC LIMIT ?", [*params, limit])  # the newest ``limit``
        return [HistoryEntry(*r) for r in reversed(rows)]

    def vectors(self, memory_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors of live memories, by id."""
        if not memory_ids:
            return {}
        marks = ",".join("?" * len(memory_ids))
        rows = self._q(
            f"SELECT memory_id, embedding FROM memory_vectors WHERE memory_id IN ({marks})", list(memory_ids)
        )
        return {int(r[0]): np.frombuffer(r[1], dtype="<f4") for r in rows}

    def source_turns(self, memory_ids: Sequence[int]) -> dict[int, int | None]:
        """The turn each memory was extracted from (None: imported or restored without one), by id."""
        return self._column("memories", "source_turn", memory_ids)

    def version_turns(self, version_ids: Sequence[int]) -> dict[int, int | None]:
        """The turn that superseded each version (None: unknown), by version id."""
        return self._column("memory_versions", "until_turn", version_ids)

    def turn_keys(self, turn_ids: Sequence[int]) -> dict[int, str]:
        """The dialogue key (a LoCoMo dia_id, a message number) of each turn, by row id."""
        return {i: str(k) for i, k in self._column("turns", "key", turn_ids).items()}

    def _column(self, table: str, column: str, ids: Sequence[int]) -> dict[int, Any]:
        """One column of the rows ``ids`` of ``table`` (fixed names, never user text), by id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._q(f"SELECT id, {column} FROM {table} WHERE id IN ({marks})", list(ids))
        return {int(r[0]): (int(r[1]) if isinstance(r[1], int) else r[1]) for r in rows}

    def turn_row(self, user: str, source: str, key: str) -> tuple[int, Turn, list[str]] | None:
        """(row id, turn, extracted facts) of a stored turn."""
        rows = self._q(
            "SELECT id, speaker, text, time, source, key, facts FROM turns WHERE user = ? AND source = ? AND key = ?",
            (user, source, key),
        )
        if not rows:
            return None
        r = rows[0]
        return int(r[0]), Turn(r[1], r[2], r[3], r[4], r[5]), json.loads(r[6] or "[]")

    def memories_before(self, user: str, turn_id: int) -> list[MemoryItem]:
        """The live memories of ``user`` as they were just before turn ``turn_id`` was applied,
        rebuilt by replaying the history of the earlier turns."""
        rows = self._q(
            "SELECT h.memory_id, h.op, h.new_text, h.created_at, t.time, m.speaker, m.created_at FROM history h "
            "LEFT JOIN turns t ON t.id = h.turn_id JOIN memories m ON m.id = h.memory_id "
            "WHERE h.user = ? AND h.id < COALESCE((SELECT MIN(id) FROM history WHERE turn_id >= ? AND user = ?), "
            "(SELECT MAX(id) + 1 FROM history)) ORDER BY h.id",
            (user, turn_id, user),
        )
        state: dict[int, MemoryItem] = {}
        texts: dict[int, tuple[str, str | None]] = {}
        for mid, op, new_text, at, time, speaker, created in rows:
            if op in ("ADD", "UPDATE") and new_text is not None:
                texts[mid] = (new_text, time)
            if op in ("ADD", "UPDATE", "RESTORE") and mid in texts:
                text, t = texts[mid]
                state[mid] = MemoryItem(mid, user, speaker, text, t, created, at)
            elif op in ("DELETE", "FORGET"):
                state.pop(mid, None)
        return [state[k] for k in sorted(state)]

    def as_of(self, user: str, turn_id: int | None, embed: Callable[[list[str]], np.ndarray]) -> Store:
        """An in-memory copy of ``user``'s store as it was just before turn ``turn_id`` (None: now):
        the memories replayed from history (re-embedded with ``embed``, as an UPDATE changed the
        stored vector) and the raw turns before it with their vectors. Searching it is searching the
        bank at that moment: the streaming benchmark asks questions against it."""
        bank = self.memories_before(user, turn_id) if turn_id is not None else self.memories(user)
        limit = turn_id if turn_id is not None else 2**62
        turns = self._q(
            "SELECT id, source, key, speaker, text, time, created_at, facts FROM turns WHERE user = ? AND id < ?",
            (user, limit),
        )
        turn_vectors = self._q(
            "SELECT turn_id, embedding FROM turn_vectors WHERE user = ? AND turn_id < ?", (user, limit)
        )
        snap = Store(None)
        if bank:
            snap.restore_bank(user, [(m.id, m.speaker, m.text, m.time) for m in bank], embed([m.text for m in bank]))
        with snap.lock, transaction(snap.conn) as c:
            c.executemany(
                "INSERT INTO turns (id, user, source, key, speaker, text, time, created_at, facts) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(r[0], user, *r[1:]) for r in turns],
            )
            c.executemany(
                "INSERT INTO turn_vectors (turn_id, user, embedding) VALUES (?, ?, ?)",
                [(r[0], user, r[1]) for r in turn_vectors],
            )
        return snap

    def turn_history(self, user: str, turn_id: int) -> list[HistoryEntry]:
        rows = self._q(
            "SELECT id, memory_id, op, old_text, new_text, turn_id, detail, created_at FROM history "
            "WHERE user = ? AND turn_id = ? ORDER BY id",
            (user, turn_id),
        )
        return [HistoryEntry(*r) for r in rows]

    def search(
        self, user: str, vector: np.ndarray, k: int, speaker: str | None = None, *, text: str | None = None
    ) -> list[SearchHit]:
        """The ``k`` live memories of ``user`` (optionally one speaker's) nearest to ``vector``; with
        ``text``, hybrid: the vector ranking fused with the keyword (BM25) ranking of ``text``. Each hit's
        ``score`` is its cosine similarity to ``vector`` either way."""
        return self._search("memory", user, vector, k, speaker, text)

    def search_turns(self, user: str, vector: np.ndarray, k: int, *, text: str | None = None) -> list[SearchHit]:
        """The ``k`` raw turns of ``user`` nearest to ``vector`` (hybrid with ``text``, as :meth:`search`)."""
        return self._search("turn", user, vector, k, None, text)

    def search_versions(self, user: str, vector: np.ndarray, k: int, *, text: str | None = None) -> list[SearchHit]:
        """The ``k`` superseded versions (a live memory's text before an UPDATE) nearest to ``vector``,
        hybrid with ``text``; ``until`` says when each stopped being current."""
        return self._search("version", user, vector, k, None, text)

    def _search(
        self, kind: str, user: str, vector: np.ndarray, k: int, speaker: str | None, text: str | None
    ) -> list[SearchHit]:
        if k <= 0:
            return []
        pool = k if text is None else max(k * POOL_FACTOR, MIN_POOL)
        dense = self._dense(kind, user, vector, pool, speaker)
        if text is None:
            return dense[:k]
        keyword = self._keyword(kind, user, text, pool, speaker)
        by_id = {h.id: h for h in dense}
        order = fuse([h.id for h in dense], keyword)[:k]
        missing = [i for i in order if i not in by_id]  # found by keywords only: scored from the index
        if missing:
            scores = self._index(kind, user).scores(missing, vector)
            by_id.update({h.id: h for h in self._rows(kind, user, missing, scores)})
        return [by_id[i] for i in order if i in by_id]

    def _dense(self, kind: str, user: str, vector: np.ndarray, k: int, speaker: str | None) -> list[SearchHit]:
        with self.lock:
            index = self._index(kind, user)
            group = None if speaker is None else self._speakers.get(speaker, UNKNOWN_SPEAKER)
            want = k
            while True:  # hidden turns and versions of deleted memories drop out: ask for more until k are left
                ids, scores = index.query(vector, want, group)
                hits = self._rows(kind, user, [int(i) for i in ids], [float(x) for x in scores])
                if len(hits) >= k or len(ids) < want:
                    return hits[:k]
                want *= 4

    def _index(self, kind: str, user: str) -> VectorIndex:
        """The vector index of ``user``'s items of ``kind``, brought up to date with ``vector_log``."""
        if self.conn.in_transaction:  # uncommitted rows may roll back (and their seq be reused): not cached
            index = VectorIndex(EMBEDDING_DIM)
            self._load(kind, user, index, None)
            return index
        seq = int(self._q("SELECT COALESCE(MAX(seq), 0) FROM vector_log")[0][0])  # read before any vector
        entry = self._indexes.pop((kind, user), None)
        if entry is not None and entry[1] < seq:
            changed = [
                int(r[0])
                for r in self._q(
                    "SELECT DISTINCT item_id FROM vector_log WHERE seq > ? AND kind = ? AND user = ?",
                    (entry[1], kind, user),
                )
            ]
            if len(changed) > RELOAD_ABOVE:  # cheaper to read the whole table once than item by item
                entry = None
            else:
                index = entry[0]
                found = self._load(kind, user, index, changed)
                index.remove([i for i in changed if i not in found])
                entry = (index, seq)
        if entry is None:
            index = VectorIndex(EMBEDDING_DIM)
            self._load(kind, user, index, None)
            entry = (index, seq)
        self._indexes[(kind, user)] = entry
        while len(self._indexes) > MAX_INDEXES:  # least recently searched first
            self._indexes.pop(next(iter(self._indexes)))
        return entry[0]

    def _load(self, kind: str, user: str, index: VectorIndex, ids: Sequence[int] | None) -> set[int]:
        """Read the stored vectors of ``ids`` (None: all of ``user``'s) into ``index``; the ids found."""
        table, key = VECTOR_TABLES[kind]
        cols = f"{key}, embedding" + (", speaker" if kind == "memory" else "")
        sql = f"SELECT {cols} FROM {table} WHERE user = ?"
        params: list[Any] = [user]
        if ids is not None:
            if not ids:
                return set()
            sql += f" AND {key} IN ({','.join('?' * len(ids))})"
            params += list(ids)
        rows = self._q(sql, params)
        if rows:
            groups = None
            if kind == "memory":
                groups = [self._speakers.setdefault(r[2], len(self._speakers)) for r in rows]
            vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype="<f4").reshape(len(rows), EMBEDDING_DIM)
            index.set([int(r[0]) for r in rows], vectors, groups)
        return {int(r[0]) for r in rows}

    def word_documents(self, kind: str, words: Sequence[str]) -> dict[str, int]:
        """How many stored documents of ``kind`` ("memory", "turn", "version"; all users) hold each of
        ``words``; a word none holds is absent."""
        if not words:
            return {}
        marks = ",".join("?" * len(words))
        return dict(self._q(f"SELECT term, doc FROM {_FTS_TABLES[kind]}_vocab WHERE term IN ({marks})", list(words)))

    def _keyword(self, kind: str, user: str, text: str, n: int, speaker: str | None) -> list[int]:
        """Ids of ``user``'s live memories (or turns) matching the words of ``text``, best BM25 first; the
        rarest words first, up to ``MAX_QUERY_POSTINGS`` documents holding them."""
        table = _FTS_TABLES[kind]
        words = query_words(text)
        query = keyword_query(rarest_words(words, self.word_documents(kind, words)))
        if query is None:
            return []
        sql = f"SELECT rowid FROM {table} WHERE {table} MATCH ? AND user = ?"
        if kind == "turn":
            sql += " AND rowid NOT IN (SELECT turn_id FROM hidden_turns)"
        if kind == "version":
            sql += (
                " AND rowid IN (SELECT x.id FROM memory_versions x JOIN memories m ON m.id = x.memory_id "
                "WHERE m.deleted = 0)"
            )
        params: list[Any] = [query, user]
        if speaker is not None:
            sql += " AND speaker = ?"
            params.append(speaker)
        return [int(r[0]) for r in self._q(sql + " ORDER BY rank LIMIT ?", [*params, n])]

    def unfound_prefixes(self, user: str, prefixes: Sequence[str]) -> set[str]:
        """The ``prefixes`` (letters and digits, as FTS5 tokenizes) that begin no word of ``user``'s
        searchable items: visible turns, live memories, versions of live memories (what search can show)."""
        queries = (
            "SELECT 1 FROM turn_fts f WHERE turn_fts MATCH ? AND f.user = ? "
            "AND f.rowid NOT IN (SELECT turn_id FROM hidden_turns) LIMIT 1",
            "SELECT 1 FROM memory_fts f JOIN memories m ON m.id = f.rowid "
            "WHERE memory_fts MATCH ? AND f.user = ? AND m.deleted = 0 LIMIT 1",
            "SELECT 1 FROM version_fts f JOIN memory_versions x ON x.id = f.rowid JOIN memories m "
            "ON m.id = x.memory_id WHERE version_fts MATCH ? AND f.user = ? AND m.deleted = 0 LIMIT 1",
        )
        unfound = set()
        for p in prefixes:
            if not p or not p.isalnum():
                raise InvalidInput(f"{p!r} is not a word prefix. Fix: letters and digits only.")
            if not any(self._q(sql, (f'"{p.lower()}"*', user)) for sql in queries):
                unfound.add(p)
        return unfound

    def _rows(self, kind: str, user: str, ids: Sequence[int], scores: Sequence[float]) -> list[SearchHit]:
        """Hits for ``ids`` (with their ``scores``), in that order, leaving out what search must not show:
        deleted memories, hidden turns, versions of deleted memories. (The unary ``+`` keeps SQLite on the
        primary key: through the (user, ...) index it would walk all of a user's rows.)"""
        if not ids:
            return []
        marks = ",".join("?" * len(ids))
        if kind == "memory":
            sql = f"SELECT id, speaker, text, time, NULL FROM memories WHERE +user = ? AND +deleted = 0 AND id IN ({marks})"
        elif kind == "version":
            sql = (
                f"SELECT x.id, x.speaker, x.text, x.time, x.until FROM memory_versions x JOIN memories m "
                f"ON m.id = x.memory_id WHERE +x.user = ? AND +m.deleted = 0 AND x.id IN ({marks})"
            )
        else:
            sql = (
                f"SELECT id, speaker, text, time, NULL FROM turns t WHERE +user = ? AND id IN ({marks}) "
                "AND NOT EXISTS (SELECT 1 FROM hidden_turns h WHERE h.turn_id = t.id)"
            )
        rows = {r[0]: r for r in self._q(sql, [user, *ids])}
        return [
            SearchHit(r[0], r[1], r[2], r[3], score, kind, r[4])
            for i, score in zip(ids, scores, strict=True)
            if (r := rows.get(i)) is not None
        ]

    # -- writes --------------------------------------------------------------------------------------

    def apply_turn(
        self,
        user: str,
        turn: Turn,
        turn_vector: np.ndarray | None,
        ops: Iterable[PlannedOp],
        facts: Sequence[str] | None = None,
    ) -> int:
        """Record ``turn`` (and the facts extracted from it) and apply ``ops`` atomically.
        Returns the turn's row id."""
        try:
            return self._apply_turn(user, turn, turn_vector, ops, facts)
        except self._sqlite.Error as e:
            raise translate(e, str(self.path)) from e

    def _apply_turn(
        self,
        user: str,
        turn: Turn,
        turn_vector: np.ndarray | None,
        ops: Iterable[PlannedOp],
        facts: Sequence[str] | None,
    ) -> int:
        with self.lock, transaction(self.conn) as c:
            turn_id = self._insert_turn(c, user, turn, turn_vector, facts)
            for op in ops:
                self._apply(c, user, turn.speaker, turn.time, turn_id, op)
            return turn_id

    @staticmethod
    def _insert_turn(
        c: Any, user: str, turn: Turn, vector: np.ndarray | None, facts: Sequence[str] | None, pending: bool = False
    ) -> int:
        """Write one raw turn and its vector (inside the caller's transaction); the new turn's id. A pending
        turn waits for the consolidator (its facts are not known yet)."""
        cur = c.execute(
            "INSERT INTO turns (user, source, key, speaker, text, time, created_at, facts, pending) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                user,
                turn.source,
                turn.key,
                turn.speaker,
                turn.text,
                turn.time,
                now(),
                None if pending else json.dumps(list(facts or [])),
                int(pending),
            ),
        )
        turn_id = int(cur.lastrowid)
        if vector is not None:
            c.execute(
                "INSERT INTO turn_vectors (turn_id, user, embedding) VALUES (?, ?, ?)", (turn_id, user, encode(vector))
            )
        return turn_id

    def _apply(self, c: Any, user: str, speaker: str, time: str | None, turn_id: int | None, op: PlannedOp) -> None:
        ts = now()
        old = old_time = None
        if op.memory_id is not None and op.op in ("UPDATE", "DELETE", "NOOP"):
            row = c.execute(
                "SELECT text, speaker, time FROM memories WHERE id = ? AND user = ? AND deleted = 0",
                (op.memory_id, user),
            ).fetchone()
            if row is None:  # the planner only hands us live ids; be safe anyway
                op = PlannedOp("REJECTED", op.memory_id, op.text, None, f"{op.op} of missing memory {op.memory_id}")
            else:
                old, speaker, old_time = row[0], row[1], row[2]
        memory_id = op.memory_id
        if op.op == "ADD":
            assert op.text is not None and op.vector is not None
            cur = c.execute(
                "INSERT INTO memories (user, speaker, text, time, created_at, updated_at, source_turn) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (user, speaker, op.text, time, ts, ts, turn_id),
            )
            memory_id = int(cur.lastrowid)
            c.execute(
                "INSERT INTO memory_vectors (memory_id, user, speaker, embedding) VALUES (?, ?, ?, ?)",
                (memory_id, user, speaker, encode(op.vector)),
            )
        elif op.op == "UPDATE":
            assert op.text is not None and op.vector is not None
            # the overwritten text stays findable as a superseded version, current until this turn's time
            cur = c.execute(
                "INSERT INTO memory_versions (memory_id, user, speaker, text, time, until, until_turn, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (memory_id, user, speaker, old, old_time, time, turn_id, ts),
            )
            c.execute(
                "INSERT INTO version_vectors (version_id, user, embedding) "
                "SELECT ?, ?, embedding FROM memory_vectors WHERE memory_id = ?",
                (int(cur.lastrowid), user, memory_id),
            )
            c.execute(
                "UPDATE memories SET text = ?, time = COALESCE(?, time), updated_at = ? WHERE id = ?",
                (op.text, time, ts, memory_id),
            )
            c.execute("UPDATE memory_vectors SET embedding = ? WHERE memory_id = ?", (encode(op.vector), memory_id))
        elif op.op == "DELETE":
            self._soft_delete(c, memory_id)
            self._delete_copies(c, user, memory_id, old, "DELETE", turn_id)
        c.execute(
            "INSERT INTO history (user, memory_id, op, old_text, new_text, turn_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (user, memory_id, op.op, old, op.text if op.op in ("ADD", "UPDATE") else None, turn_id, op.detail, ts),
        )

    # -- the consolidation queue (pending turns) --------------------------------------------------------

    def store_turn(self, user: str, turn: Turn, vector: np.ndarray) -> int:
        """Store one raw turn with its vector as pending (searchable at once, consolidated later); its id."""
        try:
            with self.lock, transaction(self.conn) as c:
                return self._insert_turn(c, user, turn, vector, None, pending=True)
        except self._sqlite.Error as e:
            raise translate(e, str(self.path)) from e

    def store_turns(self, user: str, turns: Sequence[Turn], vectors: np.ndarray) -> list[int]:
        """Store many raw turns as pending, in order, in one transaction; their ids."""
        with self.lock, transaction(self.conn) as c:
            return [self._insert_turn(c, user, t, v, None, pending=True) for t, v in zip(turns, vectors, strict=True)]

    def turns_to_reembed(self, n: int) -> list[tuple[int, str, Turn]]:
        """Up to ``n`` turns whose vectors embed the text alone (stored before vectors held the speaker and
        time, migration m010): [(row id, user, turn), ...]."""
        rows = self._q(
            "SELECT t.id, t.user, t.speaker, t.text, t.time FROM turns_to_reembed r JOIN turns t ON t.id = r.turn_id "
            "ORDER BY r.turn_id LIMIT ?",
            (n,),
        )
        return [(int(r[0]), r[1], Turn(r[2], r[3], r[4])) for r in rows]

    def replace_turn_vectors(self, items: Sequence[tuple[int, str]], vectors: np.ndarray) -> None:
        """Replace the vectors of the turns ``items`` ([(row id, user), ...]) and take them off the re-embed
        list, in one transaction (a crash leaves each batch done or still listed)."""
        with self.lock, transaction(self.conn) as c:
            for (turn_id, user), v in zip(items, vectors, strict=True):
                c.execute("UPDATE turn_vectors SET embedding = ? WHERE turn_id = ?", (encode(v), turn_id))
                # a vec0 table has no triggers: the vector indexes of every process learn of it here
                c.execute("INSERT INTO vector_log (kind, user, item_id) VALUES ('turn', ?, ?)", (user, turn_id))
                c.execute("DELETE FROM turns_to_reembed WHERE turn_id = ?", (turn_id,))

    def pending_count(self, user: str | None = None) -> int:
        where, params = ("AND user = ?", (user,)) if user is not None else ("", ())
        return int(self._q(f"SELECT COUNT(*) FROM turns WHERE pending = 1 {where}", params)[0][0])

    def pending_users(self) -> list[str]:
        """Users with turns waiting for the consolidator, the one whose oldest pending turn is oldest first."""
        return [r[0] for r in self._q("SELECT user FROM turns WHERE pending = 1 GROUP BY user ORDER BY MIN(id)")]

    def next_pending(self, user: str, n: int = 1) -> list[tuple[int, Turn]]:
        """The oldest pending turn of ``user`` (dialogue order) and the pending turns after it of the same
        source and time (one session), at most ``n`` in all: [(row id, turn), ...]; [] when none is queued."""
        rows = self._q(
            "SELECT id, speaker, text, time, source, key FROM turns WHERE user = ? AND pending = 1 ORDER BY id LIMIT ?",
            (user, n),
        )
        batch: list[tuple[int, Turn]] = []
        for r in rows:
            turn = Turn(*r[1:])
            if batch and (turn.source, turn.time) != (batch[0][1].source, batch[0][1].time):
                break
            batch.append((int(r[0]), turn))
        return batch

    def turn(self, user: str, turn_id: int) -> Turn:
        rows = self._q("SELECT speaker, text, time, source, key FROM turns WHERE id = ? AND user = ?", (turn_id, user))
        if not rows:
            raise InvalidInput(f"No turn with id {turn_id} for user {user!r}.")
        return Turn(*rows[0])

    def turn_facts(self, turn_id: int) -> list[str]:
        """The facts extraction found in a consolidated turn ([] while it is pending)."""
        rows = self._q("SELECT facts FROM turns WHERE id = ?", (turn_id,))
        return list(json.loads(rows[0][0] or "[]")) if rows else []

    def is_pending(self, user: str, turn_id: int) -> bool:
        return bool(self._q("SELECT 1 FROM turns WHERE id = ? AND user = ? AND pending = 1", (turn_id, user)))

    def previous_turn(self, user: str, turn_id: int, source: str) -> Turn | None:
        """The turn stored just before ``turn_id`` in the same source (extraction's context message)."""
        rows = self._q(
            "SELECT speaker, text, time, source, key FROM turns WHERE user = ? AND source = ? AND id < ? "
            "ORDER BY id DESC LIMIT 1",
            (user, source, turn_id),
        )
        return Turn(*rows[0]) if rows else None

    def last_memories(self, user: str, speaker: str, before_turn: int | None) -> list[MemoryItem]:
        """The live memories taken from ``speaker``'s latest message (before turn ``before_turn``) that left any."""
        rows = self._q(
            f"SELECT {_MEM_COLS} FROM memories WHERE user = ? AND deleted = 0 AND source_turn = ("
            "SELECT MAX(source_turn) FROM memories WHERE user = ? AND speaker = ? AND deleted = 0 AND source_turn < ?"
            ") ORDER BY id",
            (user, user, speaker, before_turn if before_turn is not None else 2**62),
        )
        return [_item(r) for r in rows]

    def claim(self, user: str, owner: str, ttl_s: float) -> bool:
        """Take (or renew) the lease on ``user``'s queue for ``owner``; False while another live owner holds it."""
        with self.lock, transaction(self.conn) as c:
            row = c.execute(
                "SELECT owner, host, pid, expires FROM consolidation_leases WHERE user = ?", (user,)
            ).fetchone()
            if row is not None and row[0] != owner and row[3] > clock.time() and _alive(row[1], int(row[2])):
                return False
            c.execute(
                "INSERT OR REPLACE INTO consolidation_leases (user, owner, host, pid, expires) VALUES (?, ?, ?, ?, ?)",
                (user, owner, HOST, os.getpid(), clock.time() + ttl_s),
            )
            return True

    def release(self, owner: str) -> None:
        """Give up every lease ``owner`` holds."""
        with self.lock, transaction(self.conn) as c:
            c.execute("DELETE FROM consolidation_leases WHERE owner = ?", (owner,))

    def consolidate(
        self,
        user: str,
        turn_id: int,
        ops: Iterable[PlannedOp],
        facts: Sequence[str],
        owner: str,
        *,
        hide_turn: bool = False,
    ) -> bool:
        """Apply the operations decided for pending turn ``turn_id`` and mark it consolidated, in one
        transaction, if ``owner`` still holds the user's lease and the turn is still pending (False
        otherwise: nothing written, so no turn is ever consolidated twice). ``hide_turn``: the turn asked to
        forget, so it is hidden with every memory it deletes (and shown again when one is restored)."""
        try:
            with self.lock, transaction(self.conn) as c:
                lease = c.execute("SELECT owner FROM consolidation_leases WHERE user = ?", (user,)).fetchone()
                row = c.execute(
                    "SELECT speaker, time FROM turns WHERE id = ? AND user = ? AND pending = 1", (turn_id, user)
                ).fetchone()
                if lease is None or lease[0] != owner or row is None:
                    return False
                c.execute("UPDATE turns SET pending = 0, facts = ? WHERE id = ?", (json.dumps(list(facts)), turn_id))
                for op in ops:
                    self._apply(c, user, row[0], row[1], turn_id, op)
                if hide_turn:
                    c.execute(
                        "INSERT OR IGNORE INTO hidden_turns (turn_id, memory_id) SELECT ?, memory_id FROM history "
                        "WHERE turn_id = ? AND op = 'DELETE' AND memory_id IS NOT NULL",
                        (turn_id, turn_id),
                    )
                return True
        except self._sqlite.Error as e:
            raise translate(e, str(self.path)) from e

    def add_memories(
        self, user: str, speaker: str, texts: Sequence[str], vectors: np.ndarray, time: str | None = None
    ) -> int:
        """Store ready-made memories directly (import, benchmarks), each with an ADD history row."""
        with self.lock, transaction(self.conn) as c:
            for text, vector in zip(texts, vectors, strict=True):
                self._apply(c, user, speaker, time, None, PlannedOp("ADD", None, text, vector, "imported"))
        return len(texts)

    def add_turns(self, user: str, turns: Sequence[Turn], vectors: np.ndarray) -> int:
        """Store ready-made raw turns with their vectors in one transaction (benchmarks), no operations."""
        with self.lock, transaction(self.conn) as c:
            for turn, vector in zip(turns, vectors, strict=True):
                self._insert_turn(c, user, turn, vector, None)
        return len(turns)

    def restore_bank(self, user: str, items: Sequence[tuple[int, str, str, str | None]], vectors: np.ndarray) -> None:
        """Load memories with their original ids (id, speaker, text, time): a snapshot for training."""
        ts = now()
        with self.lock, transaction(self.conn) as c:
            for (mid, speaker, text, time), vector in zip(items, vectors, strict=True):
                c.execute(
                    "INSERT INTO memories (id, user, speaker, text, time, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (mid, user, speaker, text, time, ts, ts),
                )
                c.execute(
                    "INSERT INTO memory_vectors (memory_id, user, speaker, embedding) VALUES (?, ?, ?, ?)",
                    (mid, user, speaker, encode(vector)),
                )

    def export_user(self, user: str) -> dict[str, Any]:
        """Everything stored for ``user`` (turns, memories incl. deleted ones, history) as plain data."""
        turns = self._q(
            "SELECT id, source, key, speaker, text, time, created_at, facts, pending FROM turns WHERE user = ? ORDER BY id",
            (user,),
        )
        mems = self._q(f"SELECT {_MEM_COLS}, source_turn FROM memories WHERE user = ? ORDER BY id", (user,))
        hist = self._q(
            "SELECT id, memory_id, op, old_text, new_text, turn_id, detail, created_at FROM history WHERE user = ? ORDER BY id",
            (user,),
        )
        return {
            "format": 1,
            "user": user,
            "exported_at": now(),
            "turns": [
                dict(
                    zip(
                        ("id", "source", "key", "speaker", "text", "time", "created_at", "facts", "pending"),
                        r,
                        strict=True,
                    )
                )
                for r in turns
            ],
            "memories": [
                dict(
                    zip(
                        ("id", "user", "speaker", "text", "time", "created_at", "updated_at", "deleted", "source_turn"),
                        r,
                        strict=True,
                    )
                )
                for r in mems
            ],
            "history": [
                dict(
                    zip(
                        ("id", "memory_id", "op", "old_text", "new_text", "turn_id", "detail", "created_at"),
                        r,
                        strict=True,
                    )
                )
                for r in hist
            ],
        }

    def import_user(self, user: str, data: dict[str, Any], vectors: dict[int, np.ndarray]) -> dict[str, int]:
        """Add an export to ``user`` in one transaction: new row ids, links remapped; turns already
        present (same source and key) are kept as they are. ``vectors``: exported memory id -> vector
        for every live memory."""
        try:
            with self.lock, transaction(self.conn) as c:
                turn_ids: dict[int, int] = {}
                for t in data.get("turns", []):
                    row = c.execute(
                        "SELECT id FROM turns WHERE user = ? AND source = ? AND key = ?", (user, t["source"], t["key"])
                    ).fetchone()
                    if row is None:
                        cur = c.execute(
                            "INSERT INTO turns (user, source, key, speaker, text, time, created_at, facts, pending) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                            (
                                user,
                                t["source"],
                                t["key"],
                                t["speaker"],
                                t["text"],
                                t.get("time"),
                                t.get("created_at") or now(),
                                t.get("facts"),
                                int(bool(t.get("pending"))),
                            ),
                        )
                        row = (cur.lastrowid,)
                    turn_ids[int(t["id"])] = int(row[0])
                mem_ids: dict[int, int] = {}
                for m in data.get("memories", []):
                    cur = c.execute(
                        "INSERT INTO memories (user, speaker, text, time, created_at, updated_at, deleted, source_turn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            user,
                            m["speaker"],
                            m["text"],
                            m.get("time"),
                            m.get("created_at") or now(),
                            m.get("updated_at") or now(),
                            int(bool(m.get("deleted"))),
                            turn_ids.get(m.get("source_turn") or -1),
                        ),
                    )
                    mem_ids[int(m["id"])] = int(cur.lastrowid)
                    if not m.get("deleted"):
                        c.execute(
                            "INSERT INTO memory_vectors (memory_id, user, speaker, embedding) VALUES (?, ?, ?, ?)",
                            (cur.lastrowid, user, m["speaker"], encode(vectors[int(m["id"])])),
                        )
                for h in data.get("history", []):
                    c.execute(
                        "INSERT INTO history (user, memory_id, op, old_text, new_text, turn_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            user,
                            mem_ids.get(h.get("memory_id") or -1),
                            h["op"],
                            h.get("old_text"),
                            h.get("new_text"),
                            turn_ids.get(h.get("turn_id") or -1),
                            h.get("detail"),
                            h.get("created_at") or now(),
                        ),
                    )
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidInput(
                f"Not an edgemem export ({type(e).__name__}: {e}). Fix: pass a file written by `edgemem export-memories`."
            ) from e
        return {"turns": len(turn_ids), "memories": len(mem_ids), "history": len(data.get("history", []))}

    @staticmethod
    def _soft_delete(c: Any, memory_id: int | None) -> None:
        # The row stays (history points at it, and it can be restored); its vector goes, so no search finds it.
        c.execute("UPDATE memories SET deleted = 1, updated_at = ? WHERE id = ?", (now(), memory_id))
        c.execute("DELETE FROM memory_vectors WHERE memory_id = ?", (memory_id,))

    def forget(self, user: str, memory_id: int, reason: str = "forgotten by the user") -> MemoryItem:
        """Soft-delete one memory on the user's request (recorded as FORGET)."""
        with self.lock, transaction(self.conn) as c:
            item = self.get(user, memory_id)
            if item.deleted:
                return item
            self._soft_delete(c, memory_id)
            c.execute(
                "INSERT INTO history (user, memory_id, op, old_text, detail, created_at) VALUES (?, ?, 'FORGET', ?, ?, ?)",
                (user, memory_id, item.text, reason, now()),
            )
            self._delete_copies(c, user, memory_id, item.text, "FORGET", None)
        return self.get(user, memory_id)

    def _delete_copies(
        self, c: Any, user: str, memory_id: int | None, text: str | None, op: str, turn_id: int | None
    ) -> None:
        """Soft-delete the other live memories of ``user`` that state the same fact as ``text`` (the same
        content words: case, punctuation and filler words aside), recorded as ``op`` "copy of memory N", so
        a forgotten fact is not answered from a copy and :meth:`restore` of N brings them back with it.
        Found through the keyword index (all the words), not the vector index: this runs inside a write."""
        same = content_words(text or "")
        if not same or memory_id is None:
            return
        query = " ".join('"' + w.replace('"', '""') + '"' for w in sorted(same))
        rows = c.execute(
            "SELECT m.id, m.text FROM memory_fts f JOIN memories m ON m.id = f.rowid "
            "WHERE memory_fts MATCH ? AND f.user = ? AND m.deleted = 0 AND m.id != ?",
            (query, user, memory_id),
        ).fetchall()
        for copy_id, copy_text in rows:
            if content_words(copy_text) == same:
                self._soft_delete(c, copy_id)
                c.execute(
                    "INSERT INTO history (user, memory_id, op, old_text, turn_id, detail, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (user, copy_id, op, copy_text, turn_id, f"{COPY_OF}{memory_id}", now()),
                )

    def forgotten_copies(self, user: str, memory_id: int) -> list[MemoryItem]:
        """The memories still deleted because they were copies of memory ``memory_id`` when it was deleted."""
        rows = self._q(
            "SELECT DISTINCT memory_id FROM history WHERE user = ? AND op IN ('DELETE', 'FORGET') AND detail = ?",
            (user, f"{COPY_OF}{memory_id}"),
        )
        items = [self.get(user, int(r[0])) for r in rows]
        return [m for m in items if m.deleted]

    def restore(
        self, user: str, memory_id: int, vector: np.ndarray, copies: dict[int, np.ndarray] | None = None
    ) -> MemoryItem:
        """Bring back a deleted memory (its latest text) with a fresh vector, and in the same transaction
        the ``copies`` (id -> fresh vector, from :meth:`forgotten_copies`) deleted with it."""
        with self.lock, transaction(self.conn) as c:
            item = self.get(user, memory_id)
            if not item.deleted:
                return item
            for mid, vec in {memory_id: vector, **(copies or {})}.items():
                m = item if mid == memory_id else self.get(user, mid)
                if not m.deleted:
                    continue
                c.execute("UPDATE memories SET deleted = 0, updated_at = ? WHERE id = ?", (now(), mid))
                c.execute(
                    "INSERT INTO memory_vectors (memory_id, user, speaker, embedding) VALUES (?, ?, ?, ?)",
                    (mid, user, m.speaker, encode(vec)),
                )
                c.execute(
                    "INSERT INTO history (user, memory_id, op, new_text, created_at) VALUES (?, ?, 'RESTORE', ?, ?)",
                    (user, mid, m.text, now()),
                )
        return self.get(user, memory_id)

    def reset(self, user: str) -> int:
        """Remove everything of ``user``: memories, vectors, turns, history. Returns memories removed."""
        with self.lock, transaction(self.conn) as c:
            n = c.execute("SELECT COUNT(*) FROM memories WHERE user = ? AND deleted = 0", (user,)).fetchone()[0]
            c.execute("DELETE FROM memory_vectors WHERE user = ?", (user,))
            c.execute("DELETE FROM turn_vectors WHERE user = ?", (user,))
            c.execute("DELETE FROM history WHERE user = ?", (user,))
            c.execute("DELETE FROM memory_versions WHERE user = ?", (user,))
            c.execute("DELETE FROM memories WHERE user = ?", (user,))
            c.execute("DELETE FROM turns WHERE user = ?", (user,))
            return int(n)
