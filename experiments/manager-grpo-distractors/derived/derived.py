"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES).
The rejection reasons, read from machine-local bank files, are in ``rejections.json`` next to this file.

    PYTHONPATH=. .venv/bin/python experiments/manager-grpo-distractors/derived/derived.py > experiments/manager-grpo-distractors/derived/derived.json
"""

import json

from benchmarks.pool import question_rows, run_dir
from benchmarks.scoring import paired_delta


def rows(runs: list[str], system: str) -> dict[tuple[str, int], dict]:
    return question_rows([run_dir(run) for run in runs], system)


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
print(json.dumps(out, indent=2))
