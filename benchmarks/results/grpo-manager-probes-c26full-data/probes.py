"""How often f1-probes' probe term binds on the manager's training examples, without an LLM call.

    cp -r runs/data-mgr-distract runs/data-mgr-probes
    .venv/bin/python -m training.data --probes-only --out runs/data-mgr-probes
    PYTHONPATH=. .venv/bin/python benchmarks/results/grpo-manager-probes-c26full-data/probes.py \
      > benchmarks/results/grpo-manager-probes-c26full-data/probes.json

runs/data-mgr-distract is built as in ../grpo-manager-distract-c26full-data/. For each conv-26 example
two extreme policies: ADD every fact of the turn (what the f1-strict manager learned, session 14) and
NOOP (no flip, by definition). Reported: probe questions made answerable / unanswerable by ADD-all, with
5 memories per speaker read (the --answerer-k the managers are trained and evaluated with), per example
kind (evidence turn or distractor turn)."""

import json
import statistics
from pathlib import Path

from edgemem import MemoryConfig
from edgemem.embedder import Embedder
from training.common import load_jsonl
from training.rewards import MANAGER_REWARDS, ManagerOutcomeReward

rows = load_jsonl(Path("runs/data-mgr-probes/manager_train.jsonl"))
reward = ManagerOutcomeReward(None, Embedder(threads=1), MemoryConfig(answer_k=5), MANAGER_REWARDS["f1-probes"])
flips = []
for ex in rows:
    add_all = json.dumps({"memory": [{"event": "ADD", "text": f} for f in ex["facts"]]})
    edited = reward.edit(add_all, ex)
    assert edited is not None
    store, _ = edited
    try:
        gained, lost = reward.probe_flips(ex, store)
    finally:
        store.close()
    flips.append({"evidence_turn": ex["evidence_turn"], "gained": gained, "lost": lost, "probes": len(ex["probes"])})
out = {}
for kind, evidence in (("evidence turns", True), ("distractor turns", False)):
    part = [f for f in flips if f["evidence_turn"] is evidence]
    out[kind] = {
        "examples": len(part),
        "probes_mean": round(statistics.mean(f["probes"] for f in part), 1),
        "add_all_gained_mean": round(statistics.mean(f["gained"] for f in part), 3),
        "add_all_lost_mean": round(statistics.mean(f["lost"] for f in part), 3),
        "share_with_a_probe_lost": round(sum(f["lost"] > 0 for f in part) / len(part), 3),
        "share_with_a_probe_gained": round(sum(f["gained"] > 0 for f in part) / len(part), 3),
        "add_all_probe_term_mean": round(
            MANAGER_REWARDS["f1-probes"].probe_gain * statistics.mean(f["gained"] - f["lost"] for f in part), 4
        ),
    }
print(json.dumps(out, indent=1))
