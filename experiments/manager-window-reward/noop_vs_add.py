"""Does the windowed manager reward see the storage decision? Two fixed outputs, "ADD every fact" and
"NOOP every fact", scored on the same manager examples by the per-turn reward (f1: the frozen answerer's
F1 on the example's question over the edited bank) and by f1-window (the example's next turns replayed
by the untrained manager, then the mean F1 over its question and the window's). Both rewards share one
frozen answerer (greedy, so a rerun gives the same numbers).

    PYTHONPATH=. .venv/bin/python -m training.data --agents manager --window 8 --distractors 20 \
        --threads 1 --banks runs/banks --out runs/data-mgr-window
    PYTHONPATH=. .venv/bin/python experiments/manager-window-reward/noop_vs_add.py runs/data-mgr-window \
        qwen2.5-coder-0.5b 45 15 > experiments/manager-window-reward/noop_vs_add.json

Arguments: the data directory, the frozen answerer (registry name, .gguf or an export manifest), how many
evidence-turn examples and how many distractor examples (turns that are no question's evidence), each
spread evenly over conv-26 (early banks are small).
"""

import json
import sys
import time
from pathlib import Path

from training.examples import load_jsonl
from training.rewards import MANAGER_REWARDS, ManagerOutcomeReward, frozen_answerer_reward


def output(event: str, facts: list[str], shown: int) -> str:
    """The manager's JSON for one event on every fact (NOOP names the first shown memory, or none)."""
    if event == "ADD":
        ops = [{"event": "ADD", "text": f} for f in facts]
    else:
        ops = [{"event": "NOOP", **({"id": "0"} if shown else {})} for _ in facts]
    return json.dumps({"memory": ops})


def spread(rows: list[dict], n: int) -> list[dict]:
    return rows[:: max(1, len(rows) // n)][:n] if n else []


def compare(pairs: list[tuple[float, float]]) -> dict[str, float | int]:
    add, noop = [a for a, _ in pairs], [b for _, b in pairs]
    return {
        "examples": len(pairs),
        "mean reward, ADD every fact": sum(add) / len(add) if add else 0.0,
        "mean reward, NOOP every fact": sum(noop) / len(noop) if noop else 0.0,
        "ADD scores higher": sum(a > b for a, b in pairs),
        "NOOP scores higher": sum(b > a for a, b in pairs),
        "tie": sum(a == b for a, b in pairs),
    }


data, answerer, n_evidence, n_distractors = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
every = load_jsonl(data / "manager_train.jsonl")
rows = spread([r for r in every if r["evidence_turn"]], n_evidence)
rows += spread([r for r in every if not r["evidence_turn"]], n_distractors)
per_turn = frozen_answerer_reward(answerer, threads=2, answer_k=5, metric="f1")
windowed = ManagerOutcomeReward(
    per_turn.engine.wrapped, per_turn.embedder, per_turn.config, MANAGER_REWARDS["f1-window"]
)
windowed.engine = per_turn.engine  # one store of greedy completions for both rewards

per_example = []
t0 = time.perf_counter()
for i, r in enumerate(rows):
    texts = {event: output(event, r["facts"], len(r["shown"])) for event in ("ADD", "NOOP")}
    scores = {
        f"{reward} {event}": rw.score(t, r)
        for reward, rw in (("per-turn", per_turn), ("window", windowed))
        for event, t in texts.items()
    }
    per_example.append(
        {"id": r["id"], "evidence turn": r["evidence_turn"], "window questions": len(r["window_questions"]), **scores}
    )
    print(f"{i + 1}/{len(rows)} {time.perf_counter() - t0:.0f} s {r['id']}: {scores}", file=sys.stderr)


def table(which: str, keep: bool | None) -> dict[str, float | int]:
    chosen = [e for e in per_example if keep is None or e["evidence turn"] == keep]
    return compare([(e[f"{which} ADD"], e[f"{which} NOOP"]) for e in chosen])


out = {
    "data": str(data),
    "answerer": answerer,
    "window turns": max((len(r["window"]) for r in rows), default=0),
    "model calls": per_turn.engine.calls,
    "seconds": round(time.perf_counter() - t0),
    **{
        f"{name} reward, {group}": table(name, keep)
        for name in ("per-turn", "window")
        for group, keep in (("all examples", None), ("evidence turns", True), ("distractor turns", False))
    },
    "per example": per_example,
}
print(json.dumps(out, indent=1))
