"""Batched extraction (four queued messages of a session per call) with the gate and ADD by number (new)
against the same pipeline one message per call (old, the run of experiments/admission-gate-conv30), on
conv-30 sessions 1-6: paired F1, and the model work per consolidated message from each run's ingest record.

    PYTHONPATH=. .venv/bin/python experiments/extract-batch-conv30/derived/derived.py > experiments/extract-batch-conv30/derived/derived.json
"""

import json

from benchmarks.pool import compare_banks, run_dir

print(json.dumps(compare_banks(run_dir("c30s6-batch4"), run_dir("c30s6-gate")), indent=2))
