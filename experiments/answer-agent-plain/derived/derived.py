"""The decision numbers of answer-agent-plain, from its committed conv-30 runs: each seed's paired F1
difference to the untrained plain agent (the runs' shared ``edgemem`` rows), the mean of those
differences, and the seed-mean system against the untrained agent.

    PYTHONPATH=. .venv/bin/python experiments/answer-agent-plain/derived/derived.py > experiments/answer-agent-plain/derived/derived.json
"""

import json

from benchmarks.pool import compare_seeds, run_dir

seeds = {s: [run_dir(f"rft-plain-s{s}-conv30")] for s in (0, 1, 2) if run_dir(f"rft-plain-s{s}-conv30").exists()}
print(json.dumps(compare_seeds(seeds, [run_dir("rft-plain-s0-conv30")]), indent=1))
