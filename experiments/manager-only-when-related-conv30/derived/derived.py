"""Facts with no related memory ADDed without a manager call, against the same pipeline with the call, on
conv-30 sessions 1-6, from this folder's two runs (built one after the other by the same code): paired F1,
and the model work per consolidated message from each run's ingest record.

    PYTHONPATH=. .venv/bin/python experiments/manager-only-when-related-conv30/derived/derived.py > experiments/manager-only-when-related-conv30/derived/derived.json
"""

import json
from pathlib import Path

from benchmarks.pool import compare_runs, ingest_cost, question_rows

HERE = Path(__file__).resolve().parents[1]
ON, OFF = HERE / "c30s6-related-on", HERE / "c30s6-related-off"


on, off = ingest_cost(ON), ingest_cost(OFF)
after, before = question_rows([ON], "edgemem"), question_rows([OFF], "edgemem")
out: dict[str, object] = {
    "all questions": compare_runs([ON], [OFF], "edgemem", "edgemem"),
    "changed answers": sum(after[q]["prediction"] != before[q]["prediction"] for q in before),
    "ingest on": on,
    "ingest off": off,
    "mean seconds per message, on / off": on["seconds_per_message_mean"] / off["seconds_per_message_mean"],
    "llm calls per message, on / off": on["llm_calls_per_message"] / off["llm_calls_per_message"],
}
print(json.dumps(out, indent=2))
