"""Build the training sets of both agents from LoCoMo, through the edgemem runtime itself.

    python -m training.data                                   # conv-26 train, conv-30 validation
    python -m training.data --model smollm2-135m --max-sessions 1 --out runs/data-smoke

Why through the runtime: the agents must learn on exactly what they will see when deployed. So the
memory bank of each conversation is built by ``edgemem.Memory.ingest`` (cached in a SQLite file keyed
by model, settings and prompts; resumable), the answer prompts are rendered by the runtime's
AnswerAgent, and the manager prompts by its MemoryManager over the bank as it was before the turn.

Writes (and prints the counts of):
  answer_train.jsonl / answer_val.jsonl    one line per QA (category 5 excluded)
  manager_train.jsonl / manager_val.jsonl  one line per (evidence turn with facts, linked QA)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemem import Memory, MemoryConfig
from edgemem.conversation import Conversation, bank_file, find_conversation, session_of
from edgemem.errors import InvalidInput
from edgemem.models import edgemem_home
from edgemem.store import Store

DEFAULT_LOCOMO = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo_dev.json"


@dataclass
class DataArgs:
    data: Path = DEFAULT_LOCOMO  # any file in the LoCoMo format
    train: str = "conv-26"  # Memory-R1: conv-26 is the training conversation (152 QA)
    val: str = "conv-30"  # and conv-30 the validation conversation (81 QA)
    model: str = "qwen2.5-coder-0.5b"  # the runtime model that builds the memory banks
    threads: int = 2
    max_sessions: int | None = None  # only the first N sessions (small machines, tests)
    # The answer prompts are rendered with these (the deployed answer settings must match them)
    answer_k: int = MemoryConfig.answer_k  # memories per speaker (Memory-R1: 30)
    answer_turns_k: int = MemoryConfig.answer_turns_k  # raw dialogue turns next to them
    out: Path = Path("runs/data")
    banks: Path | None = None  # where bank databases are cached (default $EDGEMEM_HOME/banks)
    # which training sets to write: "answer", "manager" or both. The manager's costs one LLM call per
    # evidence turn (its prompt is rendered by running the manager); the answer's none.
    agents: str = "answer,manager"
    # with --max-sessions: only the questions whose evidence lies in the kept sessions (the benchmark
    # harness's rule). Off, every question is kept, answerable from the partial bank or not.
    evidence_in_bank: bool = False


def build_bank(args: DataArgs, conv: Conversation, engine: Any = None, embedder: Any = None) -> Memory:
    config = MemoryConfig(
        model=args.model, threads=args.threads, answer_k=args.answer_k, answer_turns_k=args.answer_turns_k
    )
    root = args.banks or edgemem_home() / "banks"
    mem = Memory(
        bank_file(root, conv.sample_id, config, args.max_sessions),
        user=conv.sample_id,
        config=config,
        engine=engine,
        embedder=embedder,
    )
    turns = conv.turns
    if args.max_sessions is not None:
        keep = set(conv.sessions[: args.max_sessions])
        turns = [t for t in turns if session_of(t.key) in keep]
    done = [0]

    def progress(r: Any) -> None:
        done[0] += 1
        if done[0] % 25 == 0 or done[0] == len(turns):
            print(f"  {conv.sample_id}: {done[0]}/{len(turns)} turns", flush=True)

    result = mem.ingest(turns, on_turn=progress)
    print(
        f"bank {mem.path}: {result.processed} turns ingested now, {result.skipped} cached, {mem.stats()['memories']} memories"
    )
    return mem


def answer_examples(mem: Memory, conv: Conversation, sessions: set[str] | None = None) -> list[dict[str, Any]]:
    """One example per non-adversarial QA: the prompt exactly as the runtime renders it. ``sessions``:
    only the QAs whose evidence lies in these sessions (ids keep their place in the full list)."""
    agent = mem.answer_agent
    out = []
    for i, qa in enumerate(q for q in conv.qa if q.category != 5):
        if sessions is not None and not all(session_of(e) in sessions for e in qa.evidence):
            continue
        step = agent.step(qa.question, agent.retrieve(mem.user, qa.question))
        out.append(
            {
                "id": f"{conv.sample_id}/qa{i}",
                "conversation": conv.sample_id,
                "question": qa.question,
                "answer": qa.answer,
                "category": qa.category,
                "evidence": qa.evidence,
                "messages": step.messages,
                "n_memories": len(step.context),
            }
        )
    return out


def manager_examples(mem: Memory, conv: Conversation) -> list[dict[str, Any]]:
    """One example per (evidence turn, QA): the bank before the turn, the facts extracted from it,
    the memories the manager was shown and its prompt. Turns without facts never reach the manager."""
    out = []
    qas = [q for q in conv.qa if q.category != 5]
    for qi, qa in enumerate(qas):
        for dia_id in qa.evidence:
            row = mem.store.turn_row(mem.user, conv.sample_id, dia_id)
            if row is None or not row[2]:
                continue
            turn_id, turn, facts = row
            bank = mem.store.memories_before(mem.user, turn_id)
            snapshot = snapshot_store(bank, mem)
            manager = type(mem.manager)(mem.engine, mem.embedder, snapshot, mem.config)
            step = manager.step(mem.user, turn, facts, mem.embedder.embed(facts))
            out.append(
                {
                    "id": f"{conv.sample_id}/qa{qi}/{dia_id}",
                    "conversation": conv.sample_id,
                    "user": mem.user,
                    "turn": dataclasses.asdict(turn),
                    "facts": facts,
                    "bank": [{"id": m.id, "speaker": m.speaker, "text": m.text, "time": m.time} for m in bank],
                    "shown": [h.id for h in step.shown],
                    "messages": step.messages,
                    "schema": step.schema,
                    "question": qa.question,
                    "answer": qa.answer,
                    "category": qa.category,
                }
            )
            snapshot.close()
    return out


def snapshot_store(bank: list[Any], mem: Memory) -> Store:
    """An in-memory store holding ``bank`` (ids kept), so a search over it is the runtime's search."""
    store = Store(None)
    vectors = mem.embedder.embed([m.text for m in bank])
    store.restore_bank(mem.user, [(m.id, m.speaker, m.text, m.time) for m in bank], vectors)
    return store


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def main(args: DataArgs, engine: Any = None, embedder: Any = None) -> dict[str, int]:
    """Build both splits. ``engine``/``embedder``: ready-made components (tests); default: the runtime's."""
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not agents or set(agents) - {"answer", "manager"}:
        raise InvalidInput(f"Unknown --agents {args.agents!r}. Fix: answer, manager or answer,manager.")
    builders = {"answer": answer_examples, "manager": manager_examples}
    counts = {}
    for split, sample_id in (("train", args.train), ("val", args.val)):
        conv = find_conversation(args.data, sample_id)
        mem = build_bank(args, conv, engine, embedder)
        for agent in agents:
            if agent == "answer" and args.evidence_in_bank and args.max_sessions is not None:
                rows = answer_examples(mem, conv, set(conv.sessions[: args.max_sessions]))
            else:
                rows = builders[agent](mem, conv)
            write_jsonl(args.out / f"{agent}_{split}.jsonl", rows)
            counts[f"{agent}_{split}"] = len(rows)
        mem.close()
    for name, n in counts.items():
        print(f"{name:<14} {n:5d} examples -> {args.out / (name + '.jsonl')}")
    return counts


if __name__ == "__main__":
    from training.common import run_cli

    run_cli(DataArgs, main, __doc__)
