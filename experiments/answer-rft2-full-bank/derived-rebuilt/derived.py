"""Numbers that no harness run prints itself, computed from committed predictions (cited in the NOTES):

    PYTHONPATH=. .venv/bin/python experiments/answer-rft2-full-bank/derived-rebuilt/derived.py > experiments/answer-rft2-full-bank/derived-rebuilt/derived.json

- the round-2 answer agent rebuilt on a fresh machine from the committed targets, against the original
  build (all of conv-30): the untrained rows (is the rebuilt bank the same?), the trained rows;
- the same for the rebuilt seeds 1 and 2 (their conv-30 runs hold trained rows only, paired with the
  untrained rows of the rebuilt seed 0's run);
- all of conv-47 (the fifth dev-test conversation) with the rebuilt seeds 0, 1 and 2;
- seed 0 over the five whole dev-test conversations: the original build on conv-41/42/43/44 and the
  rebuilt one on conv-47 (two builds of the same recipe, so ``benchmarks.pool`` would refuse to pool
  them as one system: their manifests differ; pooled here by hand, and labelled so).
"""

import json

from benchmarks.pool import compare_runs, compare_seeds, question_rows, run_dir
from benchmarks.scoring import paired_delta


def rows(run: str, system: str) -> dict[tuple[str, int], dict]:
    return question_rows([run_dir(run)], system)


def same(a: dict, b: dict, key: str) -> int:
    assert set(a) == set(b)
    return sum(a[q][key] == b[q][key] for q in a)


out: dict[str, object] = {}
old, new = "rft2-answer-c26full-conv30", "rft2-answer-c26full-rebuilt-conv30"
for system in ("edgemem", "trained"):
    a, b = rows(new, system), rows(old, system)
    out[f"conv-30 {system}: rebuilt vs original, identical answers"] = same(a, b, "prediction")
    out[f"conv-30 {system}: rebuilt vs original, identical cited memories"] = same(a, b, "cited")
out["conv-30: rebuilt agent vs original agent"] = compare_runs([run_dir(new)], [run_dir(old)])
out["conv-30: rebuilt agent vs untrained"] = compare_runs([run_dir(new)], [run_dir(new)], old_system="edgemem")
out["conv-30: original agent vs untrained"] = compare_runs([run_dir(old)], [run_dir(old)], old_system="edgemem")

for seed in (1, 2):  # the rebuilt seeds 1 and 2 answered conv-30 too (trained rows only)
    rebuilt, original = f"rft2-answer-c26full-seed{seed}-rebuilt-conv30", f"rft2-answer-c26full-seed{seed}-conv30"
    if run_dir(rebuilt).exists():
        a, b = rows(rebuilt, "trained"), rows(original, "trained")
        out[f"conv-30 seed {seed}: rebuilt vs original, identical answers"] = same(a, b, "prediction")
        out[f"conv-30 seed {seed}: rebuilt vs original agent"] = compare_runs([run_dir(rebuilt)], [run_dir(original)])
        out[f"conv-30 seed {seed}: rebuilt vs untrained"] = compare_runs(
            [run_dir(rebuilt)], [run_dir(new)], old_system="edgemem"
        )
        out[f"conv-30 seed {seed}: original vs untrained"] = compare_runs(
            [run_dir(original)], [run_dir(original)], old_system="edgemem"
        )

conv47 = {s: f"rft2-answer-c26full{'' if s == 0 else f'-seed{s}'}-rebuilt-conv47" for s in (0, 1, 2)}
conv47 = {s: run for s, run in conv47.items() if run_dir(run).exists()}
if 0 in conv47:
    seeds = compare_seeds({s: [run_dir(run)] for s, run in conv47.items()}, [run_dir(conv47[0])])
    for s in seeds["seeds"]:
        out[f"conv-47 rebuilt seed {s} vs untrained"] = seeds[f"seed {s}"]
    out["conv-47 seeds"] = seeds["seeds"]
    out["conv-47 mean of the seeds' deltas"] = seeds["mean of the seeds' deltas"]
    out["conv-47 seed-mean system vs untrained"] = seeds["seed-mean system vs edgemem"]
    for system in ("edgemem", "trained"):
        r = rows(conv47[0], system).values()
        out[f"conv-47 {system} (seed 0) mean completion tokens"] = round(
            sum(x["completion_tokens"] for x in r) / len(r), 1
        )

    five = [f"rft2-answer-c26full-{c}" for c in ("conv41", "conv42", "conv43", "conv44")] + [conv47[0]]
    t5 = {k: v for run in five for k, v in rows(run, "trained").items()}
    b5 = {k: v for run in five for k, v in rows(run, "edgemem").items()}
    qs = sorted(b5)
    out[
        "seed 0 vs untrained, five whole dev-test conversations (original build on conv-41..44, rebuilt on conv-47)"
    ] = paired_delta([t5[q]["f1"] for q in qs], [b5[q]["f1"] for q in qs])
print(json.dumps(out, indent=1))
