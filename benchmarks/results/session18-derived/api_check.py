"""Is the 60-minute PPO manager's empty conv-30 bank its own choice, not a broken export? The same three
new facts go through the Python API (a fresh bank each) with the 60-minute and the 5-step PPO managers.

    PYTHONPATH=. .venv/bin/python benchmarks/results/session18-derived/api_check.py \
      > benchmarks/results/session18-derived/api_check.json
"""

import json
import tempfile
from pathlib import Path

from edgemem import Memory

FACTS = (
    "I adopted a puppy yesterday, his name is Biscuit.",
    "I just started a new job as a nurse at the city hospital.",
    "My sister Anna moved to Berlin last month.",
)
out = {}
with tempfile.TemporaryDirectory() as tmp:
    for run in ("ppo60-manager-probes-c26full", "ppo-manager-probes-c26full"):
        with Memory.open(Path(tmp) / f"{run}.db", user="a", threads=1, model=f"exports/{run}/manifest.json") as mem:
            out[run] = [
                [[op.op, op.new_text] for op in mem.add(text, speaker="alice", time="2 March 2025").operations]
                for text in FACTS
            ]
print(json.dumps(out, indent=1))
