"""Would scoring keyword hits by the sum of their words' IDF (one unranked FTS5 query per word, summed in
Python) beat FTS5's BM25 ordering on time, and how close are its top 10s?

    python experiments/keyword-search-cost/idf_sum.py > experiments/keyword-search-cost/idf_sum.json

Same 50k turn sentences and 71 questions as fts_detail.py, detail=full, the store's postings cap.
"""

import json
import math
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.search_scale import corpus, data_path  # noqa: E402
from edgemem.machine import percentile  # noqa: E402
from edgemem.migrations import FTS_TOKENIZE  # noqa: E402
from edgemem.store import MAX_QUERY_POSTINGS, keyword_query, query_words, rarest_words  # noqa: E402

texts, questions = corpus(data_path(None), 100_000)
turns = texts[50_000:]
c = sqlite3.connect(":memory:")
c.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, user UNINDEXED, tokenize='{FTS_TOKENIZE}')")
c.executemany("INSERT INTO t(text, user) VALUES (?, 'u')", [(x,) for x in turns])
c.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, row)")


def kept(q: str, cap: int) -> tuple[list[str], dict[str, int]]:
    """The question's words a capped keyword query keeps (rarest first), and each word's document count."""
    words = query_words(q)
    docs = dict(c.execute(f"SELECT term, doc FROM v WHERE term IN ({','.join('?' * len(words))})", words))
    return rarest_words(words, docs, cap), docs


def bm25(q: str, cap: int = MAX_QUERY_POSTINGS) -> list[int]:
    query = keyword_query(kept(q, cap)[0])
    if query is None:
        return []
    sql = "SELECT rowid FROM t WHERE t MATCH ? AND user = 'u' ORDER BY rank LIMIT 30"
    return [r[0] for r in c.execute(sql, (query,))]


def idf_sum(q: str, cap: int = MAX_QUERY_POSTINGS) -> list[int]:
    words, docs = kept(q, cap)
    score: dict[int, float] = {}
    for w in words:
        df = docs.get(w, 0)
        if df:
            idf = math.log((len(turns) - df + 0.5) / (df + 0.5) + 1)
            for (r,) in c.execute("SELECT rowid FROM t WHERE t MATCH ? AND user = 'u'", (f'"{w}"',)):
                score[r] = score.get(r, 0.0) + idf
    return sorted(score, key=lambda r: -score[r])[:30]


def overlap(a: list[list[int]], b: list[list[int]]) -> float:
    return float(np.mean([len(set(x[:10]) & set(y[:10])) / max(len(x[:10]), 1) for x, y in zip(a, b, strict=True)]))


out: dict = {"turns": len(turns), "queries": len(questions), "cap": MAX_QUERY_POSTINGS, "ms": {}}
for name, fn in [("bm25", bm25), ("idf_sum", idf_sum)]:
    ms = []
    for _ in range(3):
        for q in questions:
            t0 = time.perf_counter()
            fn(q)
            ms.append((time.perf_counter() - t0) * 1000)
    out["ms"][name] = {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "n": len(ms)}
out["top10_overlap_with_bm25"] = overlap([bm25(q) for q in questions], [idf_sum(q) for q in questions])
print(json.dumps(out, indent=1))
