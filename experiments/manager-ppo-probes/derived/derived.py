"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES).

    PYTHONPATH=. .venv/bin/python experiments/manager-ppo-probes/derived/derived.py > experiments/manager-ppo-probes/derived/derived.json

- The manager with PPO for GRPO's budget: f1-probes (the first f1-probes GRPO run's reward, ADD price 0.1), 60 minutes on
  one thread with the machine to itself but for one 1-thread evaluation (the first 60-minute run was
  OOM-killed next to a GRPO run; its 30-minute rerun made 5 steps). Exported next to the rebuilt round-2
  answer agent and run over all of conv-30 (trained rows only), paired as the 5-step run was with the rebuilt
  agent's conv-30 run: its "edgemem" rows are the untrained pipeline, its "trained" rows the same answer
  agent over the untrained manager's bank (the manager's own effect).
- All of conv-43 with the rebuilt round-2 answer agent, seeds 0, 1 and 2 (rebuilt from committed files; conv-43
  had seed 0 of the original build only), the untrained rows from seed 0's run.
- The rebuilt seeds on all of conv-30 as one seed-mean system with its interval (the rebuild gave the
  three deltas only).
"""

import json

from benchmarks.pool import compare_runs, compare_seeds, question_rows, run_dir

BASE = "rft2-answer-c26full-rebuilt-conv30"  # untrained pipeline + rebuilt agent over the untrained bank


def seed_runs(conversation: str) -> dict[int, str]:
    """The rebuilt round-2 answer agent's runs of seeds 0-2 on ``conversation`` that exist."""
    runs = {s: f"rft2-answer-c26full{'' if s == 0 else f'-seed{s}'}-rebuilt-{conversation}" for s in (0, 1, 2)}
    return {s: run for s, run in runs.items() if run_dir(run).exists()}


def rows(run: str, system: str) -> dict[tuple[str, int], dict]:
    return question_rows([run_dir(run)], system)


out: dict[str, object] = {}
ppo60 = "ppo60-manager-probes-c26full-conv30"
if run_dir(ppo60).exists():
    new = [run_dir(ppo60)]
    out["PPO 60 min manager + rebuilt agent vs untrained pipeline (all of conv-30)"] = compare_runs(
        new, [run_dir(BASE)], old_system="edgemem"
    )
    out["PPO 60 min manager vs untrained manager (same rebuilt agent; the manager's own effect)"] = compare_runs(
        new, [run_dir(BASE)]
    )
    for name, run in (
        ("PPO 30 min (5 steps)", "ppo-manager-probes-c26full-conv30"),
        ("GRPO f1-probes 60 min, no ADD price", "grpo-manager-probes0-c26full-conv30"),
    ):
        out[f"PPO 60 min manager vs {name} manager (same agent)"] = compare_runs(new, [run_dir(run)])

runs = seed_runs("conv43")
if 0 in runs:
    seeds = compare_seeds({s: [run_dir(run)] for s, run in runs.items()}, [run_dir(runs[0])])
    out.update({f"conv-43 rebuilt {key}": value for key, value in seeds.items()})
    base, old = rows(runs[0], "edgemem"), rows("rft2-answer-c26full-conv43", "edgemem")  # old: the first conv-43 run
    out["conv-43 untrained rows: identical answers to the first conv-43 run"] = sum(
        old[q]["prediction"] == base[q]["prediction"] for q in base
    )
    out["conv-43 questions"] = len(base)
    out["conv-43 rebuilt seed 0 vs original seed 0"] = compare_runs(
        [run_dir(runs[0])], [run_dir("rft2-answer-c26full-conv43")]
    )
    out["conv-43 untrained rows now vs the first conv-43 run's"] = compare_runs(
        [run_dir(runs[0])], [run_dir("rft2-answer-c26full-conv43")], "edgemem", "edgemem"
    )
conv30 = seed_runs("conv30")
out.update(
    {
        f"conv-30 rebuilt {key}": value
        for key, value in compare_seeds({s: [run_dir(run)] for s, run in conv30.items()}, [run_dir(BASE)]).items()
    }
)
print(json.dumps(out, indent=1))
