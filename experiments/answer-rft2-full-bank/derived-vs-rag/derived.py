"""The round-2 answer agent (seed 0) and the untrained pipeline against plain raw-turn RAG on the same
questions: conv-30 (81) and conv-41 + conv-42 (351). RAG's rows come from the accuracy runs in
``benchmarks/results/``; the agent's from its own runs (the same model, the same untrained manager's
banks, 5 memories per speaker + 5 raw turns). Paired on the questions both answered (cited in the README).

    PYTHONPATH=. .venv/bin/python experiments/answer-rft2-full-bank/derived-vs-rag/derived.py > experiments/answer-rft2-full-bank/derived-vs-rag/derived.json
"""

import json
from pathlib import Path

from benchmarks.pool import compare_runs, run_dir

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
out: dict[str, object] = {}
for label, agent, rag in (
    ("conv-30", ["rft2-answer-c26full-conv30"], ["accuracy-conv30"]),
    (
        "conv-41 + conv-42",
        ["rft2-answer-c26full-conv41", "rft2-answer-c26full-conv42"],
        ["accuracy-conv41", "accuracy-conv42"],
    ),
):
    agents, rags = [run_dir(r) for r in agent], [RESULTS / r for r in rag]
    out[f"{label}: trained vs rag"] = compare_runs(agents, rags, "trained", "rag")
    out[f"{label}: untrained (5 + 5) vs rag"] = compare_runs(agents, rags, "edgemem", "rag")
print(json.dumps(out, indent=2))
