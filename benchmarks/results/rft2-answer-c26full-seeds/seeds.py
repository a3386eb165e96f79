"""The round-2 answer agent over its SFT seeds (0, 1, 2; the same 31 teacher targets), on all of conv-30
(validation) and all of conv-41 (dev-test, the untrained manager's full bank).

    PYTHONPATH=. .venv/bin/python benchmarks/results/rft2-answer-c26full-seeds/seeds.py \
      > benchmarks/results/rft2-answer-c26full-seeds/seeds.json

Each seed's run is paired with the untrained pipeline on the same questions (the untrained rows are
the same in every run of a conversation: checked). The seed-mean system answers each question with the
mean F1 of the seeds, so its interval is over questions with the seed noise averaged out.
"""

import json
from pathlib import Path

from benchmarks.scoring import paired_delta

RESULTS = Path(__file__).parent.parent
SEEDS = {0: "rft2-answer-c26full", 1: "rft2-answer-c26full-seed1", 2: "rft2-answer-c26full-seed2"}


def rows(run: Path, system: str) -> dict[int, float]:
    lines = (run / "predictions.jsonl").read_text().splitlines()
    return {r["qid"]: r["f1"] for r in map(json.loads, lines) if r["system"] == system}


out = {}
for conversation in ("conv30", "conv41"):
    runs = {seed: RESULTS / f"{name}-{conversation}" for seed, name in SEEDS.items()}
    runs = {seed: run for seed, run in runs.items() if run.exists()}
    base = rows(runs[0], "edgemem")
    assert all(rows(run, "edgemem") == base for run in runs.values()), "the untrained rows differ between runs"
    qids = sorted(base)
    trained = {seed: rows(run, "trained") for seed, run in runs.items()}
    result: dict[str, object] = {
        f"seed {seed}": paired_delta([t[q] for q in qids], [base[q] for q in qids]) for seed, t in trained.items()
    }
    result["seeds"] = sorted(trained)
    result["mean of the seeds' deltas"] = sum(r["delta"] for r in result.values() if isinstance(r, dict)) / len(trained)
    seed_mean = [sum(t[q] for t in trained.values()) / len(trained) for q in qids]
    result["seed-mean system vs edgemem"] = paired_delta(seed_mean, [base[q] for q in qids])
    out[conversation] = result
print(json.dumps(out, indent=2))
