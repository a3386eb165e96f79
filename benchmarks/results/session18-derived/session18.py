"""The session-18 README numbers that no harness run prints itself, computed from committed predictions.

    PYTHONPATH=. .venv/bin/python benchmarks/results/session18-derived/session18.py \
      > benchmarks/results/session18-derived/session18.json

- The manager with PPO for GRPO's budget: f1-probes (session 15's reward, ADD price 0.1), 60 minutes on
  one thread with the machine to itself but for one 1-thread evaluation (session 17's 60-minute run was
  OOM-killed next to a GRPO run; its 30-minute rerun made 5 steps). Exported next to the rebuilt round-2
  answer agent and run over all of conv-30 (trained rows only), paired as in session 17 with the rebuilt
  agent's conv-30 run: its "edgemem" rows are the untrained pipeline, its "trained" rows the same answer
  agent over the untrained manager's bank (the manager's own effect).
- All of conv-43 with the rebuilt round-2 answer agent, seeds 0, 1 and 2 (session 16 rebuilt them; conv-43
  had seed 0 of the original build only, session 15), the untrained rows from seed 0's run.
- The rebuilt seeds on all of conv-30 as one seed-mean system with its interval (session 16 gave the
  three deltas only).
"""

import json
from pathlib import Path

from benchmarks.pool import compare_runs, compare_seeds, pool_rows

RESULTS = Path(__file__).parent.parent
BASE = "rft2-answer-c26full-rebuilt-conv30"  # untrained pipeline + rebuilt agent over the untrained bank


def seed_runs(conversation: str) -> dict[int, str]:
    """The rebuilt round-2 answer agent's runs of seeds 0-2 on ``conversation`` that exist."""
    runs = {s: f"rft2-answer-c26full{'' if s == 0 else f'-seed{s}'}-rebuilt-{conversation}" for s in (0, 1, 2)}
    return {s: run for s, run in runs.items() if (RESULTS / run).exists()}


def rows(run: str, system: str) -> dict[tuple[str, int], dict]:
    return {(r["conversation"], r["qid"]): r for r in pool_rows([RESULTS / run], [system])}


out: dict[str, object] = {}
ppo60 = "ppo60-manager-probes-c26full-conv30"
if (RESULTS / ppo60).exists():
    new = [RESULTS / ppo60]
    out["PPO 60 min manager + rebuilt agent vs untrained pipeline (all of conv-30)"] = compare_runs(
        new, [RESULTS / BASE], old_system="edgemem"
    )
    out["PPO 60 min manager vs untrained manager (same rebuilt agent; the manager's own effect)"] = compare_runs(
        new, [RESULTS / BASE]
    )
    for name, run in (
        ("PPO 30 min (5 steps, session 17)", "ppo-manager-probes-c26full-conv30"),
        ("GRPO f1-probes 60 min, no ADD price (session 17)", "grpo-manager-probes0-c26full-conv30"),
    ):
        out[f"PPO 60 min manager vs {name} manager (same agent)"] = compare_runs(new, [RESULTS / run])

runs = seed_runs("conv43")
if 0 in runs:
    seeds = compare_seeds({s: [RESULTS / run] for s, run in runs.items()}, [RESULTS / runs[0]])
    out.update({f"conv-43 rebuilt {key}": value for key, value in seeds.items()})
    base, old = rows(runs[0], "edgemem"), rows("rft2-answer-c26full-conv43", "edgemem")  # old: session 15's run
    out["conv-43 untrained rows: identical answers to session 15's run"] = sum(
        old[q]["prediction"] == base[q]["prediction"] for q in base
    )
    out["conv-43 questions"] = len(base)
    out["conv-43 rebuilt seed 0 vs original seed 0 (session 15)"] = compare_runs(
        [RESULTS / runs[0]], [RESULTS / "rft2-answer-c26full-conv43"]
    )
    out["conv-43 untrained rows now vs session 15's"] = compare_runs(
        [RESULTS / runs[0]], [RESULTS / "rft2-answer-c26full-conv43"], "edgemem", "edgemem"
    )
conv30 = seed_runs("conv30")
out.update(
    {
        f"conv-30 rebuilt {key}": value
        for key, value in compare_seeds({s: [RESULTS / run] for s, run in conv30.items()}, [RESULTS / BASE]).items()
    }
)
print(json.dumps(out, indent=1))
