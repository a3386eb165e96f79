"""The JSON manager's banks against the line manager's on the tuning conversations (conv-26 + conv-30):
model work per consolidated message (summed over both banks) and paired F1 of today's default answers, with
95 % bootstrap intervals over questions; rag-hybrid for reference (the JSON run answered it).

    PYTHONPATH=. .venv/bin/python experiments/manager-lines/derived/derived.py > experiments/manager-lines/derived/derived.json
"""

import json
import statistics
from pathlib import Path

from benchmarks.pool import ingest_cost, question_rows
from benchmarks.scoring import paired_delta

HERE = Path(__file__).resolve().parents[1]
CONVERSATIONS = ("conv-26", "conv-30")


def cost(run: Path) -> dict:
    """Model work per message over both conversations' banks (each bank's record weighted by its messages)."""
    per = {c: ingest_cost(run, f"edgemem/{c}") for c in CONVERSATIONS}
    n = sum(p["messages"] for p in per.values())

    def total(key: str) -> float:
        return sum(p[key] * p["messages"] for p in per.values())

    return {
        "messages": n,
        "memories": {c: p["memories"] for c, p in per.items()},
        "operations": {c: p["operations"] for c, p in per.items()},
        **{
            key: round(total(key) / n, 3)
            for key in (
                "llm_calls_per_message",
                "prompt_tokens_per_message",
                "generated_tokens_per_message",
                "model_seconds_per_message",
                "seconds_per_message_mean",
            )
        },
    }


def f1(rows: dict) -> float:
    return round(100 * statistics.fmean(r["f1"] for r in rows.values()), 2)


def main() -> None:
    json_run, lines_run = HERE / "lines-json", HERE / "lines-lines"
    old, new = cost(json_run), cost(lines_run)
    out: dict = {"ingest json": old, "ingest lines": new}
    for key in ("generated_tokens_per_message", "model_seconds_per_message", "llm_calls_per_message"):
        out[f"{key}, lines / json"] = round(new[key] / old[key], 3)
    a, b = question_rows([lines_run], "edgemem"), question_rows([json_run], "edgemem")
    hybrid = question_rows([json_run], "rag-hybrid")
    for name, keep in (("pooled", CONVERSATIONS), *((c, (c,)) for c in CONVERSATIONS)):
        keys = sorted(k for k in b if k[0] in keep)
        d = paired_delta([a[k]["f1"] for k in keys], [b[k]["f1"] for k in keys])
        h = paired_delta([a[k]["f1"] for k in keys], [hybrid[k]["f1"] for k in keys])
        out[name] = {
            "questions": len(keys),
            "f1 lines": f1({k: a[k] for k in keys}),
            "f1 json": f1({k: b[k] for k in keys}),
            "f1 rag-hybrid": f1({k: hybrid[k] for k in keys}),
            "lines vs json": {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()},
            "lines vs rag-hybrid": {k: round(v, 2) if isinstance(v, float) else v for k, v in h.items()},
            "changed answers": sum(a[k]["prediction"] != b[k]["prediction"] for k in keys),
            "evidence lines / json": [
                round(statistics.fmean(r[k]["evidence_recall"] for k in keys if r[k]["evidence_recall"] is not None), 3)
                for r in (a, b)
            ],
        }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
