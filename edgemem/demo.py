"""``edgemem demo``: ingest a small two-speaker conversation that ships with the package, show every
memory operation as it happens, then answer questions about it with the latency of each step.

The conversation has a fact that is later contradicted (Maya moves from Porto to Lisbon), a repeated
fact (the puppy), an explicit "forget that" (Leo's allergy), and questions that need the updated
fact and a date. A second run answers from the stored bank without ingesting again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .manager import TurnResult
from .memory import Memory
from .store import Turn

SOURCE = "edgemem-demo"


@dataclass(frozen=True)
class DemoData:
    title: str
    turns: list[Turn]
    questions: list[dict[str, str]]


def load_demo() -> DemoData:
    raw = json.loads(resources.files("edgemem").joinpath("data/demo_conversation.json").read_text(encoding="utf-8"))
    turns = [
        Turn(m["speaker"], m["text"], s["time"], SOURCE, f"S{i}:{j}")
        for i, s in enumerate(raw["sessions"], start=1)
        for j, m in enumerate(s["messages"], start=1)
    ]
    return DemoData(raw["title"], turns, raw["questions"])


def describe(result: TurnResult) -> list[str]:
    """Lines telling what the manager did with one message."""
    lines = [f"  facts: {json.dumps(result.facts, ensure_ascii=False)}" if result.facts else "  facts: (none)"]
    for op in result.operations:
        if op.op == "ADD":
            lines.append(f"  ADD     #{op.memory_id}: {op.new_text}")
        elif op.op == "UPDATE":
            lines.append(f"  UPDATE  #{op.memory_id}: {op.old_text!r} -> {op.new_text!r}")
        elif op.op == "DELETE":
            lines.append(f"  DELETE  #{op.memory_id}: {op.old_text}")
        elif op.op == "NOOP":
            lines.append(f"  NOOP    #{op.memory_id}" if op.memory_id is not None else "  NOOP")
        else:
            lines.append(f"  {op.op:<8}{op.detail or ''}")
    return lines


def run_demo(mem: Memory, echo: Callable[[str], Any] = print, fresh: bool = False) -> dict[str, Any]:
    data = load_demo()
    if fresh:
        mem.reset()
    stored = sum(mem.store.has_turn(mem.user, t.source, t.key) for t in data.turns)
    echo(f"Memory bank: {mem.path or '(in memory)'}  user={mem.user}")
    if stored == len(data.turns):
        echo(f"All {stored} demo messages are already stored: answering from the bank (use --fresh to start over).")
    else:
        echo(f"Ingesting '{data.title}' ({len(data.turns) - stored} messages)...")

        def on_turn(r: TurnResult) -> None:
            if r.skipped:
                return
            echo(f"\n[{r.total_s:5.2f}s] {r.speaker}: {r.text}")
            for line in describe(r):
                echo(line)
            for w in r.warnings:
                echo(f"  warning: {w}")

        mem.ingest(data.turns, on_turn=on_turn)
    echo("\nMemories now stored:")
    for m in mem.memories():
        echo(f"  #{m.id} [{m.speaker}, {m.time}] {m.text}")
    echo("\nQuestions:")
    answers = []
    for q in data.questions:
        a = mem.answer(q["question"])
        echo(f"\n[{a.total_s:5.2f}s: search {a.search_s * 1000:.0f} ms, model {a.llm_s:.2f}s] {q['question']}")
        echo(f"  answer:   {a.answer}    (expected: {q['expected']}; needs {q['needs']})")
        for c in a.cited:
            echo(f"  cited:    #{c.id} {c.time}: {c.text}")
        answers.append({"question": q["question"], "answer": a.answer, "expected": q["expected"], "seconds": a.total_s})
    echo(f"\nThe bank is kept at {mem.path}: run the demo again to answer from it without re-ingesting.")
    return {"db": str(mem.path), "answers": answers, "memories": len(mem.memories())}
