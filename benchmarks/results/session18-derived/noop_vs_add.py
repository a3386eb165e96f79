"""Why PPO's manager learned to store nothing: the f1-probes reward of two fixed outputs on the manager's
training examples, "ADD every fact" against "NOOP every fact", each scored by the reward the runs used
(the rebuilt round-2 answer agent over the edited bank, 5 memories per speaker, ADD price 0.1).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/results/session18-derived/noop_vs_add.py \
      runs/data-mgr-probes exports/rft2-answer-c26full/manifest.json 60 \
      > benchmarks/results/session18-derived/noop_vs_add.json

``runs/data-mgr-probes`` is session 17's manager data (the command is in the README, session 17). N training
examples spread evenly over the file (its order is the conversation's) are scored (one answer per output and
example); the answer agent is greedy, so a rerun gives the same numbers.
"""

import json
import sys
from pathlib import Path

from training.common import load_jsonl
from training.rewards import frozen_answerer_reward


def output(event: str, facts: list[str], shown: int) -> str:
    """The manager's JSON for one event on every fact (NOOP names the first shown memory, or none)."""
    if event == "ADD":
        ops = [{"event": "ADD", "text": f} for f in facts]
    else:
        ops = [{"event": "NOOP", **({"id": "0"} if shown else {})} for _ in facts]
    return json.dumps({"memory": ops})


data, answerer, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
every = load_jsonl(data / "manager_train.jsonl")
rows = every[:: max(1, len(every) // n)][:n]  # spread over the conversation: early banks are small
PRICE = 0.1  # f1-probes' price per ADD (relative to the turn's facts), the runs' setting
# scored without the price, which is then subtracted from the planned ADDs (the planner turns a duplicate
# ADD into a NOOP), so one answer call gives the reward with and without it
reward = frozen_answerer_reward(answerer, threads=1, answer_k=5, metric="f1-probes", add_cost=0.0)


def price(text: str, ex: dict) -> float:
    store, planned = reward.edit(text, ex)  # type: ignore[misc]
    store.close()
    return PRICE * sum(op.op == "ADD" for op in planned) / max(1, len(ex["facts"]))


unpriced: dict[str, list[float]] = {"ADD": [], "NOOP": []}
priced: dict[str, list[float]] = {"ADD": [], "NOOP": []}
for r in rows:
    for event in unpriced:
        text = output(event, r["facts"], len(r["shown"]))
        unpriced[event].append(reward.score(text, r))
        priced[event].append(unpriced[event][-1] - price(text, r))


def mean(xs: list[float]) -> float:
    return sum(xs) / len(xs)


def compare(scores: dict[str, list[float]]) -> dict[str, float | int]:
    add, noop = scores["ADD"], scores["NOOP"]
    return {
        "mean reward, ADD every fact": mean(add),
        "mean reward, NOOP every fact": mean(noop),
        "examples where NOOP scores higher": sum(b > a for a, b in zip(add, noop, strict=True)),
        "examples where ADD scores higher": sum(a > b for a, b in zip(add, noop, strict=True)),
        "examples where they tie": sum(a == b for a, b in zip(add, noop, strict=True)),
    }


out = {
    "examples": len(rows),
    "f1-probes (ADD price 0.1, as trained)": compare(priced),
    "f1-probes without the ADD price (--add-cost 0)": compare(unpriced),
    "per example": [
        {"id": r["id"], "ADD": a, "NOOP": b, "ADD unpriced": c}
        for r, a, b, c in zip(rows, priced["ADD"], priced["NOOP"], unpriced["ADD"], strict=True)
    ],
}
print(json.dumps(out, indent=1))
