"""The session-13 README numbers that no harness run prints itself, computed from committed predictions
(and, for the rejection reasons, from the bank files named in session13-manager-operations.json).

    PYTHONPATH=. .venv/bin/python benchmarks/results/session13-derived/derived.py \
      > benchmarks/results/session13-derived/derived.json
"""

import json
import sqlite3
from pathlib import Path

from benchmarks.scoring import paired_delta

RESULTS = Path(__file__).parent.parent


def rows(runs: list[str], system: str) -> dict[tuple[str, int], dict]:
    out = {}
    for run in runs:
        for r in map(json.loads, (RESULTS / run / "predictions.jsonl").read_text().splitlines()):
            if r["system"] == system:
                out[(r["conversation"], r["qid"])] = r
    return out


def manager_effect(new: list[str], old: list[str]) -> dict:
    """A trained manager's bank vs another bank, the same round-2 answer agent, the same questions."""
    a, b = rows(new, "trained"), rows(old, "trained")
    assert set(a) == set(b)
    qids = sorted(a)
    return paired_delta([a[q]["f1"] for q in qids], [b[q]["f1"] for q in qids])


EVAL65 = ["{}-conv30-6sessions", "{}-devtest-3sessions"]
out: dict[str, object] = {
    "distract manager vs untrained manager (65 q)": manager_effect(
        [e.format("grpo-manager-distract-c26full") for e in EVAL65], [e.format("rft2-answer-c26full") for e in EVAL65]
    ),
    "distract manager vs f1-accepted manager (65 q)": manager_effect(
        [e.format("grpo-manager-distract-c26full") for e in EVAL65],
        [e.format("grpo-manager-acc-c26full") for e in EVAL65],
    ),
    "strict manager vs untrained manager (conv-30 s1-6)": manager_effect(
        ["grpo-manager-strict-c26full-conv30-6sessions"], ["rft2-answer-c26full-conv30-6sessions"]
    ),
}
for conv in ("conv41", "conv42"):  # round-2 answer agent, seed 0: answer length and any overlap with gold
    for system in ("edgemem", "trained"):
        r = rows([f"rft2-answer-c26full-{conv}"], system).values()
        out[f"{conv} {system}"] = {
            "n": len(r),
            "mean_words": round(sum(len(x["prediction"].split()) for x in r) / len(r), 1),
            "f1_above_0": sum(1 for x in r if x["f1"] > 0),
        }
for bank in json.loads((RESULTS / "session13-manager-operations.json").read_text()):
    if Path(bank).exists():
        with sqlite3.connect(bank) as db:
            details = [d for (d,) in db.execute("SELECT detail FROM history WHERE op = 'REJECTED'")]
        out[f"rejected {Path(bank).name}"] = {
            "rejected": len(details),
            "delete_unrelated_to_its_fact": sum("unrelated to its fact" in (d or "") for d in details),
        }
print(json.dumps(out, indent=2))
