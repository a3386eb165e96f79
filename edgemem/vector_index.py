"""The in-process vector index of one user's memories, turns or versions: what makes search fast at scale.

sqlite-vec scans every float vector of a user on each query: 36–67 ms at 100k stored items on this
project's machines (and more when another process shares the cores), where an answer should search in
a few milliseconds. This index holds, per stored item, its unit vector and its 384 sign bits. A query
first ranks every item by the Hamming distance of the bits (six XOR + popcount per item, ~1 ms at
100k), then re-ranks the best ``candidates`` by exact cosine on the float vectors. With at most
``candidates`` items (every user of a normal size) the result is exact; beyond that its recall@10
against exact search is measured in ``benchmarks.latency`` on real text.

The store owns one index per (kind, user), loads it from the vector tables on first use and keeps it
in step through the ``vector_log`` table that triggers write with every change (so writes by other
processes are seen too): see ``Store._index``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# Candidates taken by Hamming distance before the exact re-rank: with 512 (and real MiniLM vectors of
# real text), recall@10 against exact search stays near 1 at 100k items (benchmarks.latency reports it).
MIN_CANDIDATES = 512
NO_GROUP = -1


class VectorIndex:
    """Unit vectors and their sign bits, by item id; ``group`` (a speaker's number) filters a query."""

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.words = (dim + 63) // 64
        self.ids = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dim), dtype=np.float32)
        self.bits = np.zeros((self.words, 0), dtype=np.uint64)  # word-major: each XOR runs over a row
        self.groups = np.zeros(0, dtype=np.int32)
        self.alive = np.zeros(0, dtype=bool)
        self.row: dict[int, int] = {}
        self.size = 0  # rows used (alive or not)

    def __len__(self) -> int:
        return len(self.row)

    def _signs(self, vectors: np.ndarray) -> np.ndarray:
        packed = np.packbits(vectors > 0, axis=1)
        pad = self.words * 8 - packed.shape[1]
        if pad:
            packed = np.pad(packed, ((0, 0), (0, pad)))
        return np.ascontiguousarray(packed.view(np.uint64).T)

    def _grow(self, need: int) -> None:
        cap = len(self.ids)
        if need <= cap:
            return
        new = max(need, 2 * cap, 64)
        self.ids = np.resize(self.ids, new)
        self.vectors = np.resize(self.vectors, (new, self.dim))
        bits = np.zeros((self.words, new), dtype=np.uint64)
        bits[:, :cap] = self.bits
        self.bits = bits
        self.groups = np.resize(self.groups, new)
        alive = np.zeros(new, dtype=bool)
        alive[:cap] = self.alive
        self.alive = alive

    def set(self, ids: Sequence[int], vectors: np.ndarray, groups: Sequence[int] | None = None) -> None:
        """Add or replace the vectors of ``ids``."""
        if not len(ids):
            return
        v = np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim)
        norms = np.linalg.norm(v, axis=1, keepdims=True)
        v = (v / np.where(norms > 0, norms, 1.0)).astype(np.float32)
        g = np.full(len(ids), NO_GROUP, dtype=np.int32) if groups is None else np.asarray(groups, dtype=np.int32)
        rows = np.empty(len(ids), dtype=np.int64)
        fresh = 0
        for j, i in enumerate(ids):
            r = self.row.get(int(i))
            if r is None:
                r = self.size + fresh
                fresh += 1
                self.row[int(i)] = r
            rows[j] = r
        self._grow(self.size + fresh)
        self.size += fresh
        self.ids[rows] = np.asarray(ids, dtype=np.int64)
        self.vectors[rows] = v
        self.bits[:, rows] = self._signs(v)
        self.groups[rows] = g
        self.alive[rows] = True

    def remove(self, ids: Sequence[int]) -> None:
        for i in ids:
            r = self.row.pop(int(i), None)
            if r is not None:
                self.alive[r] = False
        if self.size > 1024 and len(self.row) < self.size // 2:  # mostly dead rows: compact
            keep = np.flatnonzero(self.alive[: self.size])
            self.ids, self.vectors = self.ids[keep], self.vectors[keep]
            self.bits, self.groups = np.ascontiguousarray(self.bits[:, keep]), self.groups[keep]
            self.alive = np.ones(len(keep), dtype=bool)
            self.size = len(keep)
            self.row = {int(i): r for r, i in enumerate(self.ids)}

    def scores(self, ids: Sequence[int], vector: np.ndarray) -> list[float]:
        """The cosine similarity of each of ``ids`` to ``vector`` (0.0 for an id without a vector)."""
        q = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        q = q / (float(np.linalg.norm(q)) or 1.0)
        return [float(self.vectors[r] @ q) if (r := self.row.get(int(i))) is not None else 0.0 for i in ids]

    def query(self, vector: np.ndarray, k: int, group: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The ids of the ``k`` items nearest to ``vector`` (of ``group`` only, if given) and their cosine
        similarities, best first."""
        n = self.size
        if k <= 0 or not self.row:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.asarray(vector, dtype=np.float32).reshape(self.dim)
        q = q / (float(np.linalg.norm(q)) or 1.0)
        ok = self.alive[:n] if group is None else self.alive[:n] & (self.groups[:n] == group)
        live = int(ok.sum())
        want = max(MIN_CANDIDATES, 8 * k)
        if live <= want:  # few enough to compare exactly
            cand = np.flatnonzero(ok)
        else:
            qbits = self._signs(q[None, :])[:, 0]
            dist = np.bitwise_count(self.bits[0, :n] ^ qbits[0]).astype(np.int32)
            for w in range(1, self.words):
                dist += np.bitwise_count(self.bits[w, :n] ^ qbits[w])
            dist[~ok] = self.dim + 1  # never chosen while a live item is left
            cand = np.argpartition(dist, want)[:want]
        scores = self.vectors[cand] @ q
        order = np.argsort(-scores, kind="stable")[:k]
        return self.ids[cand[order]], scores[order]
