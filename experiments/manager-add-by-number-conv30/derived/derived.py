"""The manager's ADD by fact number (new) against the same pipeline with ADD text (old), on conv-30
sessions 1-6: paired F1, and the model work per consolidated message from each run's ingest record. The
old run is the "off" run of experiments/manager-only-when-related-conv30 (the same bank settings otherwise).

    PYTHONPATH=. .venv/bin/python experiments/manager-add-by-number-conv30/derived/derived.py > experiments/manager-add-by-number-conv30/derived/derived.json
"""

import json

from benchmarks.pool import compare_banks, run_dir

print(json.dumps(compare_banks(run_dir("c30s6-add-by-number"), run_dir("c30s6-related-off")), indent=2))
