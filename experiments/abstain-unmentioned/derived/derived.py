"""What the unmentioned-words rule changes in committed runs, from the rule's verdicts (benchmarks/results/unmentioned-rule.json) alone:
the rule answers "Not mentioned" before the model is asked and changes nothing else, so a committed
row of a question it flags becomes "Not mentioned", rescored; every other row stays as it was.

- LongMemEval oracle sample of 10 (benchmarks/results/longmemeval-oracle-sample10): edgemem's rows.
- conv-30 (benchmarks/results/answer-agent-conv30): the edgemem (untrained) and trained rows.

    PYTHONPATH=. .venv/bin/python experiments/abstain-unmentioned/derived/derived.py > experiments/abstain-unmentioned/derived/derived.json
"""

import json
from pathlib import Path

from benchmarks.longmemeval import score_row
from benchmarks.scoring import score
from edgemem.unmentioned import NOT_MENTIONED

ROOT = Path(__file__).resolve().parents[3]
RULE = json.loads((ROOT / "benchmarks/results/unmentioned-rule.json").read_text())


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean(xs: list[float]) -> float:
    return round(100 * sum(xs) / len(xs), 1) if xs else 0.0


def longmemeval_sample() -> dict:
    flagged = RULE["longmemeval"]["oracle_dev.json"]["flagged"]
    out = {}
    for r in rows(ROOT / "benchmarks/results/longmemeval-oracle-sample10/predictions.jsonl"):
        if r["system"] != "edgemem":
            continue
        new = score_row(NOT_MENTIONED, r["gold"], r["abstention"]) if r["question_id"] in flagged else r
        out[r["question_id"]] = (r["abstention"], r["f1"], new["f1"], r["question_id"] in flagged)
    abst = [v for v in out.values() if v[0]]
    return {
        "questions": len(out),
        "flagged": sorted(q for q, v in out.items() if v[3]),
        "f1_before": mean([v[1] for v in out.values()]),
        "f1_after": mean([v[2] for v in out.values()]),
        "abstention_right_before": sum(v[1] for v in abst),
        "abstention_right_after": sum(v[2] for v in abst),
        "abstention": len(abst),
        "answerable_changed": sum(1 for v in out.values() if v[3] and not v[0]),
    }


def conv30() -> dict:
    flagged = {v["question"] for v in RULE["locomo"]["conv-30"]["flagged"].values()}
    out = {}
    for system in ("edgemem", "trained"):
        sys_rows = [
            r for r in rows(ROOT / "benchmarks/results/answer-agent-conv30/predictions.jsonl") if r["system"] == system
        ]
        after = [score(NOT_MENTIONED, r["gold"])["f1"] if r["question"] in flagged else r["f1"] for r in sys_rows]
        out[system] = {
            "questions": len(sys_rows),
            "flagged": sorted(r["question"] for r in sys_rows if r["question"] in flagged),
            "f1_before": mean([r["f1"] for r in sys_rows]),
            "f1_after": mean(after),
        }
    return out


print(json.dumps({"longmemeval_oracle_sample10": longmemeval_sample(), "conv30": conv30()}, indent=2))
