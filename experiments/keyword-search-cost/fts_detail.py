"""Does a smaller FTS5 index (detail=column or detail=none) make BM25 ranking cheaper at 50k turns?

    python experiments/keyword-search-cost/fts_detail.py > experiments/keyword-search-cost/fts_detail.json

The 50k turn sentences of ``benchmarks.search_scale``'s 100k corpus in an in-memory FTS5 table with the
store's tokenizer, queried with the store's capped keyword query (4000 postings) for the 71 questions,
three times: ORDER BY rank LIMIT 30 (what search runs) and LIMIT 30 unranked; and the top 10's overlap
with detail=full's.
"""

import json
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
result: dict = {"turns": len(turns), "queries": len(questions), "cap": MAX_QUERY_POSTINGS, "ms": {}}
tops = {}
for detail in ["full", "column", "none"]:
    c = sqlite3.connect(":memory:")
    c.execute(f"CREATE VIRTUAL TABLE t USING fts5(text, user UNINDEXED, tokenize='{FTS_TOKENIZE}', detail={detail})")
    c.executemany("INSERT INTO t(text, user) VALUES (?, 'u')", [(x,) for x in turns])
    c.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, row)")
    qs = []
    for q in questions:
        words = query_words(q)
        docs = dict(c.execute(f"SELECT term, doc FROM v WHERE term IN ({','.join('?' * len(words))})", words))
        qs.append(keyword_query(rarest_words(words, docs)))
    out = {}
    for name, sql in [
        ("rank", "SELECT rowid FROM t WHERE t MATCH ? AND user = 'u' ORDER BY rank LIMIT 30"),
        ("unranked", "SELECT rowid FROM t WHERE t MATCH ? AND user = 'u' LIMIT 30"),
    ]:
        ms = []
        for _ in range(3):
            for q in qs:
                if q:
                    t0 = time.perf_counter()
                    c.execute(sql, (q,)).fetchall()
                    ms.append((time.perf_counter() - t0) * 1000)
        out[name] = {"p50": percentile(ms, 50), "p95": percentile(ms, 95), "n": len(ms)}
    result["ms"][detail] = out
    tops[detail] = [
        [r[0] for r in c.execute("SELECT rowid FROM t WHERE t MATCH ? ORDER BY rank LIMIT 10", (q,))] if q else []
        for q in qs
    ]
result["top10_overlap_with_full"] = {
    d: float(np.mean([len(set(a) & set(b)) / max(len(a), 1) for a, b in zip(tops["full"], tops[d], strict=True)]))
    for d in ["column", "none"]
}
print(json.dumps(result, indent=1))
