"""The admission gate with ADD by number (new) against ADD by number alone (old, the run of
experiments/manager-add-by-number-conv30), on conv-30 sessions 1-6: paired F1, and the model work per
consolidated message from each run's ingest record.

    PYTHONPATH=. .venv/bin/python experiments/admission-gate-conv30/derived/derived.py > experiments/admission-gate-conv30/derived/derived.json
"""

import json

from benchmarks.pool import compare_banks, run_dir

print(json.dumps(compare_banks(run_dir("c30s6-gate"), run_dir("c30s6-add-by-number")), indent=2))
