"""Build the training sets of both agents from LoCoMo, through the edgemem runtime itself.

    python -m training.data                                   # conv-26 train, conv-30 validation
    python -m training.data --model smollm2-135m --max-sessions 1 --out runs/data-smoke

Why through the runtime: the agents must learn on exactly what they will see when deployed. So the
memory bank of each conversation is built by ``edgemem.Memory.ingest`` (cached in a SQLite file keyed
by model, settings and prompts; resumable), the answer prompts are rendered by the runtime's
AnswerAgent, and the manager prompts by its MemoryManager over the bank as it was before the turn.

Writes (and prints the counts of):
  answer_train.jsonl / answer_val.jsonl    one line per QA (category 5 excluded)
  manager_train.jsonl / manager_val.jsonl  one line per (evidence turn with facts, linked QA),
                                           then --distractors turns per conversation that are no evidence;
                                           each with the questions answerable by then ("probes")
    python -m training.data --probes-only --out runs/data   # add "probes" to manager files built without them
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemem import Memory, MemoryConfig
from edgemem.config import ANSWER_FORMATS, PRESETS
from edgemem.errors import InvalidInput
from edgemem.locomo import Conversation, find_conversation, kept_turns, require_locomo, scored_questions, session_of
from edgemem.locomo import build_bank as build_locomo_bank
from edgemem.models import edgemem_home
from edgemem.store import Store
from training.examples import load_jsonl


@dataclass
class DataArgs:
    # any file in the LoCoMo format (default $EDGEMEM_LOCOMO, else ../shared/data/locomo/locomo_dev.json)
    data: Path | None = None
    train: str = "conv-26"  # Memory-R1: conv-26 is the training conversation (152 QA)
    val: str = "conv-30"  # and conv-30 the validation conversation (81 QA)
    model: str = "qwen2.5-coder-0.5b"  # the runtime model that builds the memory banks
    threads: int = 2
    max_sessions: int | None = None  # only the first N sessions (small machines, tests)
    # which answer prompts to render (MemoryConfig.answer_format): "cited", Memory-R1's JSON that lists the
    # memories used (the committed answer-agent targets), or "plain", the runtime's default short answer
    answer_format: str = "cited"
    # The answer prompts are rendered with these (the deployed answer settings must match them); default:
    # the format's own, MemoryConfig.preset("cited") for cited, MemoryConfig's defaults for plain
    answer_k: int | None = None  # memories per speaker (Memory-R1: 30)
    answer_turns_k: int | None = None  # raw dialogue turns next to them
    # how the answer prompts find them (the runtime's default; the committed answer-agent targets were
    # rendered with "dense", so rebuilding that agent from them needs --search dense)
    search: str = MemoryConfig.search
    # the bank's admission gate (MemoryConfig.admission_gate); --no-admission-gate builds banks as before
    # the gate existed: the committed answer-agent targets were sampled on such a bank
    admission_gate: bool = MemoryConfig.admission_gate
    out: Path = Path("runs/data")
    banks: Path | None = None  # where bank databases are cached (default $EDGEMEM_HOME/banks)
    # which training sets to write: "answer", "manager" or both. The manager's costs one LLM call per
    # evidence turn (its prompt is rendered by running the manager); the answer's none.
    agents: str = "answer,manager"
    # with --max-sessions: only the questions whose evidence lies in the kept sessions (the benchmark
    # harness's rule). Off, every question is kept, answerable from the partial bank or not.
    evidence_in_bank: bool = False
    # manager: also N turns per conversation that hold no question's evidence (with facts), each with a
    # question whose evidence came earlier. Evidence turns alone never show the manager a turn where NOOP
    # is right: storing everything never lowered their reward (experiments/manager-grpo-accepted).
    distractors: int = 0
    seed: int = 0  # which distractor turns and questions are drawn
    # manager: also the N turns after each example's turn, with the facts the bank extracted from them, and
    # the questions whose evidence lies in those turns (columns "window", "window_questions"): what
    # --reward f1-window replays and asks. 0: no window columns.
    window: int = 0
    # only add the manager examples' "probes" column (probe_questions) to the files in --out: no model call
    probes_only: bool = False


def answer_settings(args: DataArgs) -> dict[str, Any]:
    """The answer format and context sizes the prompts are rendered with: the flags, else the format's own.

    >>> answer_settings(DataArgs(answer_format="plain")) == {"answer_format": "plain", "answer_k": 3, "answer_turns_k": 10}
    True
    """
    if args.answer_format not in ANSWER_FORMATS:
        raise InvalidInput(f"--answer-format {args.answer_format!r}. Fix: one of {', '.join(ANSWER_FORMATS)}.")
    own = PRESETS["cited"] if args.answer_format == "cited" else {}
    defaults = MemoryConfig(**own)
    return {
        "answer_format": args.answer_format,
        "answer_k": defaults.answer_k if args.answer_k is None else args.answer_k,
        "answer_turns_k": defaults.answer_turns_k if args.answer_turns_k is None else args.answer_turns_k,
    }


def build_bank(args: DataArgs, conv: Conversation, engine: Any = None, embedder: Any = None) -> Memory:
    config = MemoryConfig(
        model=args.model,
        threads=args.threads,
        **answer_settings(args),
        search=args.search,
        admission_gate=args.admission_gate,
    )
    total = len(kept_turns(conv, args.max_sessions))
    done = [0]

    def progress(r: Any) -> None:
        done[0] += 1
        if done[0] % 25 == 0 or done[0] == total:
            print(f"  {conv.sample_id}: {done[0]}/{total} turns", flush=True)

    root = args.banks or edgemem_home() / "banks"
    mem, result = build_locomo_bank(
        root, conv, config, args.max_sessions, engine=engine, embedder=embedder, on_turn=progress
    )
    print(
        f"bank {mem.path}: {result.processed} turns ingested now, {result.skipped} cached, {mem.stats()['memories']} memories"
    )
    return mem


def answer_examples(mem: Memory, conv: Conversation, sessions: set[str] | None = None) -> list[dict[str, Any]]:
    """One example per non-adversarial QA: the prompt exactly as the runtime renders it. ``sessions``:
    only the QAs whose evidence lies in these sessions (ids keep their place in the full list)."""
    agent = mem.answer_agent
    out = []
    for i, qa in enumerate(scored_questions(conv)):
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
                "answer_format": mem.config.answer_format,
            }
        )
    return out


def manager_examples(
    mem: Memory, conv: Conversation, distractors: int = 0, seed: int = 0, window: int = 0
) -> list[dict[str, Any]]:
    """One example per (evidence turn, QA): the bank before the turn, the facts extracted from it,
    the memories the manager was shown and its prompt. Turns without facts never reach the manager.
    Then ``distractors`` examples of turns that are no question's evidence (``distractor_examples``).
    ``window``: each example also holds its next turns and their questions (``window_columns``)."""
    out = []
    qas = scored_questions(conv)
    for qi, qa in enumerate(qas):
        for dia_id in qa.evidence:
            example = manager_example(mem, conv, dia_id, qa, f"{conv.sample_id}/qa{qi}/{dia_id}")
            if example is not None:
                out.append(example | {"evidence_turn": True})
    out += distractor_examples(mem, conv, distractors, seed)
    if window:
        out = [ex | window_columns(mem, conv, ex["turn"]["key"], ex["question"], window) for ex in out]
    return out


def window_columns(mem: Memory, conv: Conversation, dia_id: str, own: str, n: int) -> dict[str, Any]:
    """The ``n`` turns after ``dia_id`` (fewer where the bank ends) with the facts the bank extracted from
    each, and the conversation's other questions (category 5 excluded) with evidence in turn ``dia_id`` or
    in those turns and all of it by the last of them. Why: scored on one turn against the bank of that
    moment, storing a fact and not storing it tie in most examples (experiments/manager-ppo-probes: 35 of
    60), while the damage of storing everything builds up over the turns that follow; replaying them shows
    the reward what a decision does to the memories later turns update and to the questions they raise."""
    order = {t.key: i for i, t in enumerate(conv.turns)}
    start = end = order[dia_id]
    turns = []
    for t in conv.turns[start + 1 : start + 1 + n]:
        row = mem.store.turn_row(mem.user, conv.sample_id, t.key)
        if row is None:  # past what the bank holds (--max-sessions): the window ends there
            break
        turns.append({"turn": dataclasses.asdict(row[1]), "facts": row[2]})
        end = order[t.key]
    inside = {t.key for t in conv.turns[start : end + 1]}
    questions = [
        {"question": q.question, "answer": str(q.answer)}
        for q in scored_questions(conv)
        if q.question != own and set(q.evidence) & inside and all(order.get(e, len(order)) <= end for e in q.evidence)
    ]
    return {"window": turns, "window_questions": questions}


def distractor_examples(mem: Memory, conv: Conversation, n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` turns with facts that hold no question's evidence, in dialogue order, each paired with a
    question whose evidence all came before it (drawn with ``seed``). Storing such a turn's facts
    cannot help that question and may crowd its memories out of retrieval: what the manager should
    learn is to NOOP small talk. A turn with no earlier-answered question is skipped."""
    if n <= 0:
        return []
    qas = scored_questions(conv)
    evidence = {e for q in qas for e in q.evidence}
    candidates = []
    for turn in conv.turns:
        row = mem.store.turn_row(mem.user, conv.sample_id, turn.key)
        if turn.key in evidence or row is None or not row[2]:
            continue
        answered = answered_by(conv, turn.key, inclusive=False)
        if answered:
            candidates.append((turn.key, answered))
    rng = random.Random(seed)
    picked = sorted(rng.sample(range(len(candidates)), min(n, len(candidates))))
    out = []
    for i in picked:
        dia_id, answered = candidates[i]
        qi = rng.choice(answered)
        example = manager_example(mem, conv, dia_id, qas[qi], f"{conv.sample_id}/distractor/qa{qi}/{dia_id}")
        if example is not None:
            out.append(example | {"evidence_turn": False})
    return out


def manager_example(mem: Memory, conv: Conversation, dia_id: str, qa: Any, example_id: str) -> dict[str, Any] | None:
    """The manager's example of turn ``dia_id`` linked to ``qa``; None for a turn without facts."""
    row = mem.store.turn_row(mem.user, conv.sample_id, dia_id)
    if row is None or not row[2]:
        return None
    turn_id, turn, facts = row
    bank = mem.store.memories_before(mem.user, turn_id)
    snapshot = snapshot_store(bank, mem)
    try:
        manager = type(mem.manager)(mem.engine, mem.embedder, snapshot, mem.config)
        step = manager.step(mem.user, turn, facts, mem.embedder.embed(facts))
    finally:
        snapshot.close()
    return {
        "id": example_id,
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
        "probes": probe_questions(conv, dia_id, qa.question),
    }


def probe_questions(conv: Conversation, dia_id: str, own: str) -> list[dict[str, str]]:
    """The conversation's other questions (category 5 excluded) whose evidence all lies at or before turn
    ``dia_id``: the ones a manager's operations on that turn can help or crowd out of retrieval. Why:
    an example linked to one question never priced the memories it pushed out of the other questions'
    top k, and a manager trained so stored every fact (experiments/manager-grpo-strict: 797 memories on all of conv-30, the
    trained answer agent's F1 -6.0 against the untrained manager's bank)."""
    qas = scored_questions(conv)
    return [
        {"question": qas[i].question, "answer": str(qas[i].answer)}
        for i in answered_by(conv, dia_id, inclusive=True)
        if qas[i].question != own
    ]


def answered_by(conv: Conversation, dia_id: str, *, inclusive: bool) -> list[int]:
    """Indices into :func:`edgemem.locomo.scored_questions` of the questions whose evidence all lies before turn ``dia_id``
    (or at it, ``inclusive``); none for a turn the conversation does not hold."""
    order = {t.key: i for i, t in enumerate(conv.turns)}
    end = order.get(dia_id, -1) + (1 if inclusive else 0)
    return [
        qi
        for qi, q in enumerate(scored_questions(conv))
        if q.evidence and all(order.get(e, len(order)) < end for e in q.evidence)
    ]


def add_probes(out: Path, data: Path | None) -> dict[str, int]:
    """Add the ``probes`` column to the manager files already in ``out`` (built before it existed),
    without a model call: the column depends on the dialogue alone. Returns probes per file."""
    counts = {}
    data = require_locomo(data)
    for split in ("train", "val"):
        path = out / f"manager_{split}.jsonl"
        rows = load_jsonl(path)
        convs = {sid: find_conversation(data, sid) for sid in {r["conversation"] for r in rows}}
        for r in rows:
            r["probes"] = probe_questions(convs[r["conversation"]], r["turn"]["key"], r["question"])
        write_jsonl(path, rows)
        counts[f"manager_{split}"] = sum(len(r["probes"]) for r in rows)
    return counts


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
    if args.probes_only:
        counts = add_probes(args.out, args.data)
        for name, n in counts.items():
            print(f"{name:<14} {n:6d} probe questions added -> {args.out / (name + '.jsonl')}")
        return counts
    agents = [a.strip() for a in args.agents.split(",") if a.strip()]
    if not agents or set(agents) - {"answer", "manager"}:
        raise InvalidInput(f"Unknown --agents {args.agents!r}. Fix: answer, manager or answer,manager.")
    if args.distractors < 0:
        raise InvalidInput(f"--distractors {args.distractors}: a count of turns. Fix: 0 (none) or more, e.g. 60.")
    if args.distractors and "manager" not in agents:
        raise InvalidInput("--distractors adds manager examples. Fix: --agents manager (or answer,manager).")
    if args.window < 0:
        raise InvalidInput(f"--window {args.window}: a count of turns. Fix: 0 (no window) or more, e.g. 8.")
    if args.window and "manager" not in agents:
        raise InvalidInput("--window adds columns to manager examples. Fix: --agents manager (or answer,manager).")

    def builders(agent: str, mem: Memory, conv: Conversation) -> list[dict[str, Any]]:
        if agent == "manager":
            return manager_examples(mem, conv, args.distractors, args.seed, args.window)
        if args.evidence_in_bank and args.max_sessions is not None:
            return answer_examples(mem, conv, set(conv.sessions[: args.max_sessions]))
        return answer_examples(mem, conv)

    counts = {}
    data = require_locomo(args.data)
    for split, sample_id in (("train", args.train), ("val", args.val)):
        conv = find_conversation(data, sample_id)
        mem = build_bank(args, conv, engine, embedder)
        for agent in agents:
            rows = builders(agent, mem, conv)
            write_jsonl(args.out / f"{agent}_{split}.jsonl", rows)
            counts[f"{agent}_{split}"] = len(rows)
        mem.close()
    for name, n in counts.items():
        print(f"{name:<14} {n:5d} examples -> {args.out / (name + '.jsonl')}")
    return counts


if __name__ == "__main__":
    from training.settings import run_cli

    run_cli(DataArgs, main, __doc__)
