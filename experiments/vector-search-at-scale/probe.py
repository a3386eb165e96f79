"""What a dense kNN over 100k vectors of one user costs by each way considered: sqlite-vec's float scan,
its bit-vector scan (with and without a float re-rank in SQL), point lookups of 200 float vectors in vec0
(what a re-rank from disk needs), and the in-process sign-bit index that was chosen.

    .venv/bin/python experiments/vector-search-at-scale/probe.py --out experiments/vector-search-at-scale/probe.json

Vectors: unit vectors in 500 clusters (a stand-in with the structure of sentence embeddings; the product's
benchmark, benchmarks.search_scale, uses real text). Times are p50/p95 ms over 40 queries.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from edgemem.db import connect, encode
from edgemem.machine import machine_info
from edgemem.vector_index import VectorIndex


def timed(fn, n: int = 40) -> dict[str, float]:
    ms = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        ms.append((time.perf_counter() - t) * 1000)
    return {"p50": float(np.percentile(ms, 50)), "p95": float(np.percentile(ms, 95))}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args()
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(500, 384))
    v = centers[rng.integers(0, 500, args.n)] + 0.7 * rng.normal(size=(args.n, 384))
    v = (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)
    queries = [encode(v[i * 13]) for i in range(40)]
    with tempfile.TemporaryDirectory() as tmp:
        c = connect(str(Path(tmp) / "x.db"))
        c.execute(
            "CREATE VIRTUAL TABLE t USING vec0(id INTEGER PRIMARY KEY, user TEXT PARTITION KEY, "
            "embedding FLOAT[384] distance_metric=cosine, bits BIT[384], chunk_size=128)"
        )
        c.executemany(
            "INSERT INTO t (id, user, embedding, bits) VALUES (?, 'u', ?, vec_quantize_binary(?))",
            [(i + 1, encode(x), encode(x)) for i, x in enumerate(v)],
        )
        knn = "SELECT id FROM t WHERE embedding MATCH ? AND k = 10 AND user = 'u'"
        bit = "SELECT id FROM t WHERE bits MATCH vec_quantize_binary(?) AND k = 512 AND user = 'u'"
        rerank = (
            "SELECT id, vec_distance_cosine(embedding, ?) d FROM t WHERE bits MATCH vec_quantize_binary(?) "
            "AND k = 512 AND user = 'u' ORDER BY d LIMIT 10"
        )
        ids = [[int(x) for x in rng.integers(1, args.n, 200)] for _ in range(40)]
        lookup = f"SELECT id, embedding FROM t WHERE id IN ({','.join('?' * 200)})"
        t = time.perf_counter()
        index = VectorIndex(384)
        index.set(list(range(1, args.n + 1)), v)
        build_s = time.perf_counter() - t
        result = {
            "n": args.n,
            "machine": machine_info(),
            "sqlite_vec_float_knn_ms": timed(lambda i: c.execute(knn, (queries[i],)).fetchall()),
            "sqlite_vec_bit_knn_512_ms": timed(lambda i: c.execute(bit, (queries[i],)).fetchall()),
            "sqlite_vec_bit_then_float_rerank_ms": timed(
                lambda i: c.execute(rerank, (queries[i], queries[i])).fetchall()
            ),
            "vec0_200_point_lookups_ms": timed(lambda i: c.execute(lookup, ids[i]).fetchall()),
            "index_build_s": build_s,
            "index_knn_ms": timed(lambda i: index.query(v[i * 13], 10)),
        }
        c.close()
    args.out.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: x for k, x in result.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
