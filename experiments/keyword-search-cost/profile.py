"""Where the keyword half of hybrid search spends its time at 100k items, and what the postings cap buys.

    python experiments/keyword-search-cost/profile.py --out experiments/keyword-search-cost/profile.json

The store holds the same 100k real sentences as ``benchmarks.search_scale`` (50k memories, 50k turns of
one user), with random vectors: the keyword search never reads them, so its times and results are the
ones the benchmark's store gives. For each cap on the postings a query may read (``MAX_QUERY_POSTINGS``)
it times the turn keyword search (the pool of 30 that hybrid search draws) over the 71 questions, and the
share of the uncapped search's top 10 it keeps; then, at today's cap, the same SQL with the user filter
or the BM25 ordering left out, to see which of them costs the time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.search_scale import corpus, data_path  # noqa: E402
from edgemem import store as store_module  # noqa: E402
from edgemem.machine import machine_info, percentile  # noqa: E402
from edgemem.store import Store, Turn, keyword_query, query_words, rarest_words  # noqa: E402

REPS = 3


def times(fn, questions):  # type: ignore[no-untyped-def]
    ms = []
    for _ in range(REPS):
        for q in questions:
            t = time.perf_counter()
            fn(q)
            ms.append((time.perf_counter() - t) * 1000)
    return {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "n": len(ms)}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--items", type=int, default=100_000)
    p.add_argument("--caps", default="500,1000,2000,3000,4000,8000")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    texts, questions = corpus(data_path(args.data), args.items)
    half = args.items // 2
    rng = np.random.default_rng(0)
    out: dict = {"machine": machine_info(), "items": args.items, "queries": len(questions), "reps": REPS}
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "s.db"))
        for i in range(0, half, 10_000):
            chunk = texts[i : min(i + 10_000, half)]
            v = rng.standard_normal((len(chunk), 384)).astype(np.float32)
            store.add_memories("u", "User", chunk, v / np.linalg.norm(v, axis=1, keepdims=True))
        turns = [Turn("User", t, source="bench", key=str(j)) for j, t in enumerate(texts[half:])]
        for i in range(0, len(turns), 10_000):
            v = rng.standard_normal((len(turns[i : i + 10_000]), 384)).astype(np.float32)
            store.add_turns("u", turns[i : i + 10_000], v / np.linalg.norm(v, axis=1, keepdims=True))
        pool = 30
        kept = store_module.MAX_QUERY_POSTINGS
        store_module.MAX_QUERY_POSTINGS = 2**62
        full = {q: store._keyword("turn", "u", q, pool, None) for q in questions}
        rows = []
        for cap in [int(c) for c in args.caps.split(",")] + [2**62]:
            store_module.MAX_QUERY_POSTINGS = cap
            got = {q: store._keyword("turn", "u", q, pool, None) for q in questions}
            overlap = float(
                np.mean([len(set(got[q][:10]) & set(full[q][:10])) / max(len(full[q][:10]), 1) for q in questions])
            )
            row = {
                "cap": cap if cap < 2**62 else None,
                "turn_keyword_ms": times(lambda q: store._keyword("turn", "u", q, pool, None), questions),
                "overlap_at_10_vs_uncapped": overlap,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
        out["caps"] = rows
        store_module.MAX_QUERY_POSTINGS = kept
        # decomposition at today's cap: the words kept are those _keyword keeps

        def capped_query(q: str) -> str | None:
            words = query_words(q)
            return keyword_query(rarest_words(words, store.word_documents("turn", words), kept))

        queries = {q: capped_query(q) for q in questions}
        variants = {
            "vocab_lookup": None,
            "match_user_rank": "SELECT rowid FROM turn_fts WHERE turn_fts MATCH ? AND user = ? "
            "AND rowid NOT IN (SELECT turn_id FROM hidden_turns) ORDER BY rank LIMIT 30",
            "match_rank_no_user": "SELECT rowid FROM turn_fts WHERE turn_fts MATCH ? ORDER BY rank LIMIT 30",
            "match_user_no_rank": "SELECT rowid FROM turn_fts WHERE turn_fts MATCH ? AND user = ? LIMIT 30",
            "match_count": "SELECT count(*) FROM turn_fts WHERE turn_fts MATCH ?",
        }
        parts = {}
        for name, sql in variants.items():

            def fn(q: str, sql: str | None = sql) -> object:
                if sql is None:
                    return capped_query(q)
                if not queries[q]:
                    return None
                return store._q(sql, (queries[q], "u") if "user = ?" in sql else (queries[q],))

            parts[name] = times(fn, questions)
            print(name, json.dumps(parts[name]), flush=True)
        out["parts_at_cap"] = {"cap": kept, **parts}
        postings = []
        for q in questions:
            words = query_words(q)
            if words:
                postings.append(sum(store.word_documents("turn", words).values()))
        out["uncapped_postings_per_query"] = {"p50": percentile(postings, 50), "p95": percentile(postings, 95)}
        store.close()
    if args.out:
        args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(json.dumps(out["uncapped_postings_per_query"]))


if __name__ == "__main__":
    main()
