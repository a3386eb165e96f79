"""The manager with shifted-out facts kept (new) against today's default bank (old), both answered with
today's default settings on all of conv-30: paired F1, changed answers, each bank's operations and size.
The old run is benchmarks/results/accuracy-conv30-plain (its bank was cached, so its summary records the
bank's operations and memories but no model work; the new run's model work is recorded as built).

    PYTHONPATH=. .venv/bin/python experiments/manager-keep-shifted-facts/derived/derived.py > experiments/manager-keep-shifted-facts/derived/derived.json
"""

import json

from benchmarks.pool import EXPERIMENTS, compare_runs, ingest_cost, question_rows, run_dir

new, old = run_dir("c30-keep-shifted"), EXPERIMENTS.parent / "benchmarks" / "results" / "accuracy-conv30-plain"
after, before = question_rows([new], "edgemem"), question_rows([old], "edgemem")
old_bank = json.loads((old / "summary.json").read_text())["ingest"]["edgemem/conv-30"]
print(
    json.dumps(
        {
            "new": new.name,
            "old": old.name,
            "all questions": compare_runs([new], [old], "edgemem", "edgemem"),
            "changed answers": sum(after[q]["prediction"] != before[q]["prediction"] for q in before),
            "ingest new": ingest_cost(new),
            "bank old": {"memories": old_bank["memories"], "operations": old_bank["operations"]},
        },
        indent=2,
    )
)
