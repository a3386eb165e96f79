"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES).

    PYTHONPATH=. .venv/bin/python experiments/manager-grpo-probes/derived/derived.py > experiments/manager-grpo-probes/derived/derived.json

Two managers trained on the same data (conv-26 evidence + 60 small-talk turns, with probes), both
rewarded through the rebuilt round-2 answer agent (experiments/answer-rft2-full-bank):
- GRPO with f1-probes and no price per ADD (``--add-cost 0``): 60 minutes;
- PPO with f1-probes as the first f1-probes GRPO run had it (ADD price 0.1): 30 minutes, 5 steps (a 60-minute run
  next to the GRPO run was OOM-killed after 9 steps with nothing saved: ``ppo-manager-probes-c26full-oom-run``).
Each exported as a LoRA next to that answer agent and run over all of conv-30 (81 questions; the runs hold
trained rows only). Paired with the rebuilt agent's conv-30 run: its "edgemem" rows are the untrained
pipeline, its "trained" rows the same answer agent over the untrained manager's bank (the manager's own
effect). The first f1-probes manager was evaluated with the original round-2 build, so the comparison
with it mixes two answer-agent builds (labelled so).
"""

import json

from benchmarks.pool import compare_runs, run_dir

BASE = "rft2-answer-c26full-rebuilt-conv30"  # untrained pipeline + rebuilt agent over the untrained bank


def compare(new: str, old: str, old_system: str = "trained") -> dict:
    return compare_runs([run_dir(new)], [run_dir(old)], "trained", old_system)


out: dict[str, object] = {}
runs = {
    "GRPO f1-probes, no ADD price": "grpo-manager-probes0-c26full-conv30",
    "PPO f1-probes": "ppo-manager-probes-c26full-conv30",
}
runs = {name: run for name, run in runs.items() if run_dir(run).exists()}
for name, run in runs.items():
    out[f"{name} manager + rebuilt round-2 agent vs untrained pipeline (all of conv-30)"] = compare(
        run, BASE, old_system="edgemem"
    )
    out[f"{name} manager vs untrained manager (same rebuilt agent; the manager's own effect)"] = compare(run, BASE)
    out[f"{name} manager vs the first f1-probes manager (rebuilt vs original agent build)"] = compare(
        run, "grpo-manager-probes-c26full-conv30"
    )
if len(runs) == 2:
    grpo, ppo = runs.values()
    out["PPO manager vs GRPO no-ADD-price manager (same agent)"] = compare(ppo, grpo)
print(json.dumps(out, indent=1))
