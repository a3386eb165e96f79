"""Search at scale with real text: p50/p95 of the store's dense and hybrid search at 1k / 10k / 100k items
of one user (half memories, half raw turns), and the dense search's recall@10 against exact search.

    python -m benchmarks.search_scale --cache runs/search-corpus.npz        # also a section of benchmarks.latency

The items are sentences of the chat sessions in a LongMemEval file (user and assistant turns, real text,
embedded by the runtime's MiniLM), the queries that file's questions. Embedding 100k sentences takes
most of the run (minutes); ``--cache`` keeps the vectors for the next run (keyed by the texts).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgemem.machine import machine_info, percentile

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "longmemeval" / "s_dev_sample.json"
SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def data_path(given: Path | None) -> Path:
    """--data, else $EDGEMEM_LONGMEMEVAL, else the development sample next to the project."""
    path = given or Path(os.environ.get("EDGEMEM_LONGMEMEVAL", DEFAULT_DATA))
    if not path.is_file():
        raise SystemExit(
            f"No LongMemEval file at {path}. Fix: pass --data FILE (any file in LongMemEval's format) "
            "or set EDGEMEM_LONGMEMEVAL."
        )
    return path


def corpus(path: Path, n: int) -> tuple[list[str], list[str]]:
    """``n`` distinct sentences (20–400 characters) of the file's sessions in a fixed shuffled order,
    and the file's questions."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sentences = {
        s.strip()
        for q in data
        for session in q["haystack_sessions"]
        for turn in session
        for s in SENTENCE.split(turn["content"])
        if 20 <= len(s.strip()) <= 400
    }
    texts = sorted(sentences)
    np.random.default_rng(0).shuffle(texts)
    if len(texts) < n:
        raise SystemExit(f"{path} has {len(texts)} distinct sentences, fewer than the {n} asked for.")
    return texts[:n], [q["question"] for q in data]


def embed_all(embedder: Any, texts: list[str], cache: Path | None) -> np.ndarray:
    """Vectors of ``texts``, shortest first in batches (less padding), from ``cache`` when it holds them."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        if str(stored["key"]) == key:
            return np.asarray(stored["vectors"])
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for start in range(0, len(order), 256):
        idx = order[start : start + 256]
        vectors[idx] = embedder.embed([texts[i] for i in idx])
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, key=key, vectors=vectors)
    return vectors


def timed(fn: Any, queries: list[int]) -> dict[str, float | None]:
    """p50/p95 milliseconds of ``fn(i)`` over the query numbers ``queries``."""
    ms = []
    for i in queries:
        t = time.perf_counter()
        fn(i)
        ms.append((time.perf_counter() - t) * 1000)
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "n": len(ms)}


def search_times(store: Any, qvecs: np.ndarray, questions: list[str], calls_at: list[int]) -> dict[str, Any]:
    """Dense and hybrid search of memories and of turns, k=10, each over the same queries."""
    return {
        "dense_memories_ms": timed(lambda i: store.search("u", qvecs[i], 10), calls_at),
        "dense_turns_ms": timed(lambda i: store.search_turns("u", qvecs[i], 10), calls_at),
        "hybrid_memories_ms": timed(lambda i: store.search("u", qvecs[i], 10, text=questions[i]), calls_at),
        "hybrid_turns_ms": timed(lambda i: store.search_turns("u", qvecs[i], 10, text=questions[i]), calls_at),
    }


def uncapped_keywords(store: Any, qvecs: np.ndarray, questions: list[str], calls_at: list[int]) -> dict[str, Any]:
    """The hybrid search again with every word of the question looked for (no ``MAX_QUERY_POSTINGS`` cut),
    side by side: its times, and the share of the capped search's top 10 that it also returns."""
    from edgemem import store as store_module

    capped = [[h.id for h in store.search_turns("u", qvecs[i], 10, text=questions[i])] for i in range(len(questions))]
    kept = store_module.MAX_QUERY_POSTINGS
    store_module.MAX_QUERY_POSTINGS = 2**62
    try:
        out: dict[str, Any] = {
            "hybrid_memories_uncapped_ms": timed(
                lambda i: store.search("u", qvecs[i], 10, text=questions[i]), calls_at
            ),
            "hybrid_turns_uncapped_ms": timed(
                lambda i: store.search_turns("u", qvecs[i], 10, text=questions[i]), calls_at
            ),
        }
        full = [[h.id for h in store.search_turns("u", qvecs[i], 10, text=questions[i])] for i in range(len(questions))]
    finally:
        store_module.MAX_QUERY_POSTINGS = kept
    out["max_query_postings"] = kept
    out["hybrid_turns_overlap_at_10"] = float(
        np.mean([len(set(a) & set(b)) / max(len(b), 1) for a, b in zip(capped, full, strict=True)])
    )
    return out


def bench_search(
    sizes: list[int], data: Path | None = None, cache: Path | None = None, calls: int = 200, threads: int = 2
) -> list[dict[str, Any]]:
    from edgemem.embedder import Embedder
    from edgemem.store import Store, Turn

    path = data_path(data)
    texts, questions = corpus(path, max(sizes))
    embedder = Embedder(threads=threads)
    t = time.perf_counter()
    vectors = embed_all(embedder, texts, cache)
    embed_s = time.perf_counter() - t
    qvecs = embedder.embed(questions)
    calls_at = [i % len(questions) for i in range(calls)]
    out = []
    for size in sizes:
        half = size // 2
        mem_v, turn_v = vectors[:half], vectors[half:size]
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "s.db")
            store = Store(db)
            t = time.perf_counter()
            for i in range(0, half, 10_000):
                store.add_memories("u", "User", texts[i : min(i + 10_000, half)], mem_v[i : i + 10_000])
            turns = [Turn("User", text, source="bench", key=str(j)) for j, text in enumerate(texts[half:size])]
            for i in range(0, len(turns), 10_000):
                store.add_turns("u", turns[i : i + 10_000], turn_v[i : i + 10_000])
            build_s = time.perf_counter() - t
            store.close()
            store = Store(db)  # a fresh process's first search loads the vector index from disk
            t = time.perf_counter()
            store.search("u", qvecs[0], 10)
            store.search_turns("u", qvecs[0], 10)
            first_ms = (time.perf_counter() - t) * 1000
            row = {"items": size, "memories": half, "turns": size - half, "k": 10, "build_s": build_s}
            row["first_search_ms"] = first_ms
            row.update(search_times(store, qvecs, questions, calls_at))
            # recall@10 of the dense search against exact cosine over the same stored vectors
            found = [[h.id for h in store.search("u", q, 10)] for q in qvecs]
            exact = [list(np.argsort(-(mem_v @ q), kind="stable")[:10] + 1) for q in qvecs]  # memory ids are 1..half
            row["dense_recall_at_10"] = float(
                np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact, strict=True)])
            )
            row.update(uncapped_keywords(store, qvecs, questions, calls_at))
            row["disk_bytes"] = sum(p.stat().st_size for p in Path(tmp).iterdir())
            store.close()
        out.append(row)
        print(f"  search at {size}: {json.dumps(row)}", file=sys.stderr, flush=True)
    return [{"data": str(path), "sentences": len(texts), "embed_s": embed_s, "queries": len(questions)}, *out]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data", type=Path, default=None, help="a LongMemEval file (default $EDGEMEM_LONGMEMEVAL, else the dev sample)"
    )
    p.add_argument("--sizes", default="1000,10000,100000")
    p.add_argument("--cache", type=Path, default=None, help="keep the corpus vectors here for the next run (.npz)")
    p.add_argument("--threads", type=int, default=2, help="embedder threads")
    p.add_argument("--out", type=Path, default=None, help="result JSON (default: printed only)")
    args = p.parse_args(argv)
    result = {
        "benchmark": "search_scale",
        "machine": machine_info(),
        "search": bench_search(
            [int(s) for s in args.sizes.split(",") if s], args.data, args.cache, threads=args.threads
        ),
    }
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    print(text)
    return result


if __name__ == "__main__":
    main()
