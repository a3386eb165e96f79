"""The round-2 answer agent over three SFT seeds (0, 1, 2; the same 31 teacher targets) on all of conv-30.

    PYTHONPATH=. .venv/bin/python benchmarks/results/rft2-answer-c26full-seeds/seeds.py \
      > benchmarks/results/rft2-answer-c26full-seeds/seeds.json

Each seed's run is paired with the untrained pipeline on the same 81 questions (the untrained rows are
the same in all three runs: checked). The seed-mean system answers each question with the mean F1 of
the three seeds, so its interval is over questions with the seed noise averaged out.
"""

import json
from pathlib import Path

from benchmarks.scoring import paired_delta

RESULTS = Path(__file__).parent.parent
RUNS = ["rft2-answer-c26full-conv30", "rft2-answer-c26full-seed1-conv30", "rft2-answer-c26full-seed2-conv30"]


def rows(run: str, system: str) -> dict[int, float]:
    lines = (RESULTS / run / "predictions.jsonl").read_text().splitlines()
    return {r["qid"]: r["f1"] for r in map(json.loads, lines) if r["system"] == system}


base = rows(RUNS[0], "edgemem")
assert all(rows(run, "edgemem") == base for run in RUNS), "the untrained rows differ between runs"
qids = sorted(base)
seeds = [rows(run, "trained") for run in RUNS]
out = {run: paired_delta([s[q] for q in qids], [base[q] for q in qids]) for run, s in zip(RUNS, seeds, strict=True)}
out["mean of the seeds' deltas"] = sum(out[r]["delta"] for r in RUNS) / len(RUNS)
out["seed-mean system vs edgemem"] = paired_delta(
    [sum(s[q] for s in seeds) / len(seeds) for q in qids], [base[q] for q in qids]
)
print(json.dumps(out, indent=2))
