"""Each placement variant against the default placement on the same tuning banks (conv-26 + conv-30):
paired F1 with 95 % bootstrap intervals over questions, pooled and per conversation, with evidence recall,
prompt tokens and how many answers changed. The default placement's rows are the manager-lines
experiment's JSON run (today's default manager and answer settings, the same banks).

    PYTHONPATH=. .venv/bin/python experiments/answer-facts-placement/derived/derived.py > experiments/answer-facts-placement/derived/derived.json
"""

import json
import statistics
from pathlib import Path

from benchmarks.pool import question_rows, run_dir
from benchmarks.scoring import paired_delta

HERE = Path(__file__).resolve().parents[1]
CONVERSATIONS = ("conv-26", "conv-30")


def summary(rows: list[dict]) -> dict:
    return {
        "f1": round(100 * statistics.fmean(r["f1"] for r in rows), 2),
        "evidence_recall": round(
            statistics.fmean(r["evidence_recall"] for r in rows if r["evidence_recall"] is not None), 3
        ),
        "prompt_tokens_p50": statistics.median(r["prompt_tokens"] for r in rows),
    }


def main() -> None:
    default = question_rows([run_dir("lines-json")], "edgemem")
    out: dict = {}
    for variant in ("facts-first", "new-facts-only", "turns-best-last"):
        run = HERE / f"place-{variant}"
        if not run.exists():
            continue
        rows = question_rows([run], "edgemem")
        out[variant] = {}
        answered = {k[0] for k in rows}
        for name, keep in (("pooled", CONVERSATIONS), *((c, (c,)) for c in CONVERSATIONS)):
            if not set(keep) <= answered:  # a variant stopped after conv-30 has no pooled row
                continue
            keys = sorted(k for k in rows if k[0] in keep)
            d = paired_delta([rows[k]["f1"] for k in keys], [default[k]["f1"] for k in keys])
            out[variant][name] = {
                "questions": len(keys),
                "variant": summary([rows[k] for k in keys]),
                "default": summary([default[k] for k in keys]),
                "variant vs default": {k: round(v, 2) if isinstance(v, float) else v for k, v in d.items()},
                "changed answers": sum(rows[k]["prediction"] != default[k]["prediction"] for k in keys),
            }
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
