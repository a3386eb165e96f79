"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES):

    PYTHONPATH=. .venv/bin/python experiments/answer-rft2-full-bank/derived-dev-test/derived.py > experiments/answer-rft2-full-bank/derived-dev-test/derived.json

- the f1-probes manager's own effect on all of conv-30: its bank against the untrained manager's and the
  f1-strict manager's, the same round-2 answer agent answering the same 81 questions;
- the round-2 answer agent on the whole dev-test conversations run so far (conv-41, conv-42, conv-44, and
  conv-43 where committed), seed 0, pooled.
"""

import json

from benchmarks.pool import compare_runs, run_dir


def compare(new: list[str], old: list[str], new_system: str = "trained", old_system: str = "trained") -> dict:
    return compare_runs([run_dir(r) for r in new], [run_dir(r) for r in old], new_system, old_system)


out: dict[str, object] = {}
probes = ["grpo-manager-probes-c26full-conv30"]
if run_dir(probes[0]).exists():
    out["f1-probes manager + round-2 agent vs untrained pipeline (all of conv-30)"] = compare(
        probes, probes, old_system="edgemem"
    )
    out["f1-probes manager vs untrained manager (all of conv-30, same agent)"] = compare(
        probes, ["rft2-answer-c26full-conv30"]
    )
    out["f1-probes manager vs f1-strict manager (all of conv-30, same agent)"] = compare(
        probes, ["grpo-manager-strict70-c26full-conv30"]
    )
whole = [f"rft2-answer-c26full-{c}" for c in ("conv41", "conv42", "conv43", "conv44")]
whole = [w for w in whole if run_dir(w).exists()]
for run in whole:
    out[f"round-2 agent seed 0 vs untrained ({run[-6:]})"] = compare([run], [run], old_system="edgemem")
out[f"round-2 agent seed 0 vs untrained (pooled: {', '.join(w[-6:] for w in whole)})"] = compare(
    whole, whole, old_system="edgemem"
)
print(json.dumps(out, indent=1))
