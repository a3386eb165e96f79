"""The round-2 answer agent over its SFT seeds (0, 1, 2; the same 31 teacher targets), on all of conv-30
(validation) and all of dev-test conv-41 and conv-42 (the untrained manager's full banks), and the two
dev-test conversations pooled (351 questions).

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


def rows(run: Path, system: str) -> dict[tuple[str, int], float]:
    lines = (run / "predictions.jsonl").read_text().splitlines()
    return {(r["conversation"], r["qid"]): r["f1"] for r in map(json.loads, lines) if r["system"] == system}


def seed_rows(conversations: tuple[str, ...], system: str) -> dict[int, dict[tuple[str, int], float]]:
    """seed -> that seed's rows of ``system`` over the conversations (the seeds run on all of them)."""
    out: dict[int, dict[tuple[str, int], float]] = {}
    for seed, name in SEEDS.items():
        runs = [RESULTS / f"{name}-{c}" for c in conversations]
        if all(run.exists() for run in runs):
            out[seed] = {k: v for run in runs for k, v in rows(run, system).items()}
    return out


out = {}
for label, conversations in (
    ("conv30", ("conv30",)),
    ("conv41", ("conv41",)),
    ("conv42", ("conv42",)),
    ("dev-test conv41 + conv42", ("conv41", "conv42")),
):
    bases = seed_rows(conversations, "edgemem")
    if not bases:
        continue
    base = bases[0]
    assert all(b == base for b in bases.values()), "the untrained rows differ between runs"
    qids = sorted(base)
    trained = seed_rows(conversations, "trained")
    result: dict[str, object] = {
        f"seed {seed}": paired_delta([t[q] for q in qids], [base[q] for q in qids]) for seed, t in trained.items()
    }
    result["seeds"] = sorted(trained)
    result["mean of the seeds' deltas"] = sum(r["delta"] for r in result.values() if isinstance(r, dict)) / len(trained)
    seed_mean = [sum(t[q] for t in trained.values()) / len(trained) for q in qids]
    result["seed-mean system vs edgemem"] = paired_delta(seed_mean, [base[q] for q in qids])
    out[label] = result
print(json.dumps(out, indent=2))
