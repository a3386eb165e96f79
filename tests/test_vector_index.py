"""The in-process vector index: exact for users of a normal size, near-exact past its candidate count,
and in step with every write to the store, another process's included.
Run: .venv/bin/pytest tests/test_vector_index.py"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import old_store

from edgemem.db import encode
from edgemem.store import PlannedOp, Store, Turn
from edgemem.vector_index import MIN_CANDIDATES, VectorIndex


def clustered(n: int, seed: int = 0) -> np.ndarray:
    """Unit vectors in clusters, as sentence embeddings are (not spread evenly like random ones)."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(max(n // 50, 2), 384))
    v = centers[rng.integers(0, len(centers), n)] + 0.8 * rng.normal(size=(n, 384))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def exact(vectors: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    return [int(i) for i in np.argsort(-(vectors @ (q / np.linalg.norm(q))), kind="stable")[:k]]


def test_small_index_is_exact_and_scores_are_cosine():
    v = clustered(300)
    index = VectorIndex(384)
    index.set(list(range(300)), v * 3.0)  # not unit length: stored normalised
    q = v[7] + 0.1 * clustered(1, seed=9)[0]
    ids, scores = index.query(q, 10)
    assert list(ids) == exact(v, q, 10)
    assert scores[0] == pytest.approx(float(v[ids[0]] @ (q / np.linalg.norm(q))), abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)


def test_past_the_candidate_count_recall_stays_high():
    n = 8 * MIN_CANDIDATES
    v = clustered(n, seed=1)
    index = VectorIndex(384)
    index.set(list(range(n)), v)
    rng = np.random.default_rng(2)  # questions near what was stored, as a question is near its evidence
    queries = v[rng.integers(0, n, 40)] + 0.05 * rng.normal(size=(40, 384)).astype(np.float32)
    recall = np.mean([len(set(index.query(q, 10)[0]) & set(exact(v, q, 10))) / 10 for q in queries])
    assert recall >= 0.9
    assert all(index.query(v[i], 1)[0][0] == i for i in range(0, n, 97))  # an item finds itself


def test_replace_remove_group_and_compaction():
    v = clustered(3000, seed=3)
    index = VectorIndex(384)
    index.set(list(range(3000)), v, groups=[i % 2 for i in range(3000)])
    ids, _ = index.query(v[4], 20, group=1)
    assert all(int(i) % 2 == 1 for i in ids)
    index.set([5], v[4][None, :], groups=[1])  # item 5 now has item 4's vector
    assert set(index.query(v[4], 2)[0]) == {4, 5}
    index.remove(list(range(2000)))  # most rows dead: compacted, answers unchanged
    assert len(index) == 1000 and index.size == 1000
    assert index.query(v[2500], 1)[0][0] == 2500
    assert index.scores([2500, 1], v[2500]) == [pytest.approx(1.0, abs=1e-5), 0.0]
    assert len(index.query(v[0], 5, group=7)[0]) == 0


def sqlite_vec_knn(s: Store, q: np.ndarray, k: int) -> list[int]:
    rows = s._q(
        "SELECT memory_id FROM memory_vectors WHERE embedding MATCH ? AND k = ? AND user = 'u' ORDER BY distance",
        (encode(q), k),
    )
    return [r[0] for r in rows]


def test_store_search_matches_sqlite_vec_on_real_embeddings(tmp_path, embedder):
    """Real MiniLM vectors of 1,200 short texts (past the candidate count): the store's search through
    the index against sqlite-vec's exact kNN over the same rows."""
    words = ["coffee", "marathon", "Berlin", "guitar", "sister", "dog", "painting", "job", "Rome", "garden"]
    texts = [
        f"{words[i % 10]} note {i}: I talked about {words[(i * 7) % 10]} and {words[(i * 3) % 10]}" for i in range(1200)
    ]
    vectors = embedder.embed(texts)
    s = Store(str(tmp_path / "s.db"))
    s.add_memories("u", "Leo", texts, vectors)
    queries = embedder.embed([f"what did I say about {w}?" for w in words])
    agree = [len({h.id for h in s.search("u", q, 10)} & set(sqlite_vec_knn(s, q, 10))) / 10 for q in queries]
    assert np.mean(agree) >= 0.9
    hit = s.search("u", queries[0], 1)[0]
    assert hit.score == pytest.approx(float(vectors[hit.id - 1] @ queries[0]), abs=1e-4)


def unit(seed: int) -> np.ndarray:
    return clustered(1, seed=seed)[0]


def test_the_index_follows_writes_of_another_connection(tmp_path):
    """Two Store objects on one file (as two processes): ADD, UPDATE, FORGET, RESTORE and a new turn
    made by one are seen by the other's next search, without reopening it."""
    path = str(tmp_path / "s.db")
    reader, writer = Store(path), Store(path)
    a, b = unit(1), unit(2)
    writer.add_memories("u", "Leo", ["Leo runs"], a[None, :])
    assert [h.text for h in reader.search("u", a, 5)] == ["Leo runs"]  # loaded on first use
    writer.add_memories("u", "Leo", ["Leo paints"], b[None, :])
    assert reader.search("u", b, 1)[0].text == "Leo paints"  # followed from the log
    mid = reader.search("u", b, 1)[0].id
    writer.apply_turn(
        "u", Turn("Leo", "I sculpt now", source="s", key="1"), b, [PlannedOp("UPDATE", mid, "Leo sculpts", a)]
    )
    top = reader.search("u", a, 2)
    assert {h.text for h in top} == {"Leo runs", "Leo sculpts"} and top[0].score == pytest.approx(1.0, abs=1e-5)
    assert reader.search_turns("u", b, 1)[0].text == "I sculpt now"
    writer.forget("u", mid)
    assert [h.text for h in reader.search("u", a, 5)] == ["Leo runs"]
    writer.restore("u", mid, a)
    assert {h.text for h in reader.search("u", a, 5)} == {"Leo runs", "Leo sculpts"}
    writer.reset("u")
    assert reader.search("u", a, 5) == [] and reader.search_turns("u", a, 5) == []
    assert reader.search("u", a, 5, speaker="Nobody") == []


def test_a_store_written_before_the_log_is_searched_in_full(tmp_path):
    """A database at schema m005 (every store written before the vector index): m006 adds the log,
    the index loads what is already stored, and follows the writes made after."""
    path = tmp_path / "old.db"
    conn = old_store(path, 5)
    conn.execute(
        "INSERT INTO memories (user, speaker, text, created_at, updated_at) VALUES ('u', 'Ines', 'Ines moved to Porto', 't', 't')"
    )
    conn.execute(
        "INSERT INTO memory_vectors (memory_id, user, speaker, embedding) VALUES (1, 'u', 'Ines', ?)",
        (encode(unit(1)),),
    )
    conn.close()
    s = Store(str(path))
    assert [h.text for h in s.search("u", unit(1), 5)] == ["Ines moved to Porto"]
    s.add_memories("u", "Ines", ["Ines paints"], unit(2)[None, :])
    assert s.search("u", unit(2), 1)[0].text == "Ines paints"
    s.close()
