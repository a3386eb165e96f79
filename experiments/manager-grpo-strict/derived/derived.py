"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES).

    PYTHONPATH=. .venv/bin/python experiments/manager-grpo-strict/derived/derived.py > experiments/manager-grpo-strict/derived/derived.json

- the f1-strict manager's own effect: its banks against other managers' banks, the same round-2 answer
  agent answering the same questions (conv-30 s1-6 + dev-test s1-3, 65 questions; all of conv-30);
- PPO for 19 steps against GRPO run 3 (20 steps) and against the 6-step PPO run (experiments/answer-ppo), paired on
  all of conv-30 (the untrained rows of the three runs are the same answers: checked).
"""

import json

from benchmarks.pool import compare_runs, question_rows, run_dir
from benchmarks.scoring import paired_delta


def rows(runs: list[str], system: str) -> dict[tuple[str, int], dict]:
    """(conversation, qid) -> row of ``system`` over the runs (pooled: no question twice, same settings)."""
    return question_rows([run_dir(run) for run in runs], system)


def compare(new: list[str], old: list[str], system: str = "trained") -> dict:
    return compare_runs([run_dir(r) for r in new], [run_dir(r) for r in old], system, system)


EVAL65 = ["{}-conv30-6sessions", "{}-devtest-3sessions"]
strict = [e.format("grpo-manager-strict70-c26full") for e in EVAL65]
out: dict[str, object] = {}
for label, other in (
    ("untrained manager", "rft2-answer-c26full"),
    ("f1-accepted manager", "grpo-manager-acc-c26full"),
    ("f1-budget unscaled + distractors manager", "grpo-manager-distract-c26full"),
):
    out[f"strict70 manager vs {label} (65 q)"] = compare(strict, [e.format(other) for e in EVAL65])
out["strict70 manager vs untrained manager (all of conv-30, 797 vs 253 memories)"] = compare(
    ["grpo-manager-strict70-c26full-conv30"], ["rft2-answer-c26full-conv30"]
)
for part in EVAL65:
    out[f"strict70 manager vs untrained manager ({part.format('')[1:]})"] = compare(
        [part.format("grpo-manager-strict70-c26full")], [part.format("rft2-answer-c26full")]
    )

ppo20 = "ppo20-answer-c26full-conv30"
if run_dir(ppo20).exists():
    for run in ("rl-answer-json-conv30", "ppo-answer-c26full-conv30"):
        same = rows([ppo20], "edgemem"), rows([run], "edgemem")
        assert {k: r["prediction"] for k, r in same[0].items()} == {k: r["prediction"] for k, r in same[1].items()}
    a, base = rows([ppo20], "trained"), rows([ppo20], "edgemem")
    qids = sorted(a)
    out["PPO 19 steps vs untrained (all of conv-30)"] = paired_delta(
        [a[q]["f1"] for q in qids], [base[q]["f1"] for q in qids]
    )
    out["PPO 19 steps vs GRPO run 3, 20 steps (all of conv-30)"] = compare([ppo20], ["rl-answer-json-conv30"])
    out["PPO 19 steps vs PPO 6 steps (all of conv-30)"] = compare([ppo20], ["ppo-answer-c26full-conv30"])
    for name, run in (
        ("PPO 19", ppo20),
        ("GRPO run 3", "rl-answer-json-conv30"),
        ("PPO 6", "ppo-answer-c26full-conv30"),
    ):
        trained, untrained = rows([run], "trained"), rows([run], "edgemem")
        out[f"{name}: answers identical to untrained"] = sum(
            trained[q]["prediction"] == untrained[q]["prediction"] for q in trained
        )
        out[f"{name}: mean completion tokens"] = round(
            sum(r["completion_tokens"] for r in trained.values()) / len(trained), 1
        )
print(json.dumps(out, indent=1))
