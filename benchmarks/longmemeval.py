"""LongMemEval accuracy of edgemem and baselines, same model and data, in one run.

    python -m benchmarks.longmemeval --data ../shared/data/longmemeval/oracle_dev.json --sample 30
    python -m benchmarks.longmemeval --data s_dev_sample.json --systems rag,rag-hybrid,edgemem --retrieval-only
    python -m benchmarks.longmemeval --data FILE --types knowledge-update,temporal-reasoning --max-questions 20

LongMemEval (Wu et al., ICLR 2025) asks each question over its own chat history: for every question,
memory is built from that question's haystack only (its sessions in date order, user and assistant turns,
each turn with its session's date), then the question is asked at its ``question_date``. Systems:

  none        the model alone, no memory;
  rag         raw-turn RAG: every turn embedded as "[session date] speaker: text", the top --rag-k turns by
              cosine in the prompt in dialogue order (the baseline a user would build);
  rag-hybrid  the same turns ranked by edgemem's hybrid search (vectors and keywords fused by RRF);
  edgemem     the runtime: each question's history ingested through the write path (stored, then
              consolidated by the Memory Manager; the bank is cached per question and settings), answered
              by the Answer Agent, which is told the question's date. The assistant's replies are kept as
              raw turns only (``MemoryConfig.raw_only_speakers``; --assistant-facts extracts them too):
              hundreds of words of advice each (what extracting them costs is not measured yet).
              With --retrieval-only: the answer agent's context over the stored, unconsolidated turns.

Writes into --out: predictions.jsonl (one line per system and question, appended as it goes: an
interrupted run continues where it stopped), summary.json (scores per system, question type and for
abstention; evidence-session recall; ingest cost; machine, model hash, versions), summary.md, and a plot
of F1 per question type (f1_per_type.png; ``--plots-from RUN`` draws it again).

Scores: token-set F1 and exact match against the gold answer (benchmarks.scoring). An abstention question
(id ending in ``_abs``: the history never says) is right when the answer says it is not known, and scores
1 or 0 in both metrics. Evidence-session recall: the share of a question's ``answer_session_ids`` of which
the context holds a turn, or a fact taken from one; evidence-turn recall, stricter: the share of the turns
marked ``has_answer`` that the context holds (as turns or as facts taken from them). --judge MODEL adds a local LLM judge with LongMemEval's
rule per question type (benchmarks.judge; abstention questions keep the deterministic rule, and
benchmarks.judge_agreement measures both against hand labels); the paper's judge is GPT-4o, so neither
metric is comparable with the paper's numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from benchmarks import grouped_bars, pyplot
from benchmarks.judge import judge_engine, lme_label
from benchmarks.locomo import Baselines, add_abstain_flag, add_manager_flags, context_keys
from benchmarks.scoring import abstained, paired_delta, score
from edgemem.config import ANSWER_FORMATS, MemoryConfig
from edgemem.machine import machine_info, percentile
from edgemem.store import Turn

SYSTEMS = ("none", "rag", "rag-hybrid", "edgemem")
TYPES = (
    "single-session-user",
    "single-session-assistant",
    "single-session-preference",
    "multi-session",
    "knowledge-update",
    "temporal-reasoning",
)
ABSTENTION = "abstention"  # the questions whose id ends in _abs, scored apart as well as with their type
ANSWERABLE = "answerable"  # all the others

BASELINE_SYSTEM = """You answer a user's question about their earlier chats with an assistant.
Use the chat excerpts when given; each line starts with the date of its chat. Today's date comes with the question.
Answer in at most 6 words: a name, a date, a number or a short phrase. No full sentence.
If the excerpts do not say, answer "Not mentioned"."""


@dataclass
class Question:
    id: str
    type: str
    question: str
    answer: str
    date: str  # when the question is asked
    sessions: list[tuple[str, str, list[dict[str, Any]]]]  # (session id, date, turns), oldest first
    answer_sessions: list[str]

    @property
    def answer_turns(self) -> list[str]:
        """The keys ("<session>:<n>", as in :meth:`turns`) of the turns LongMemEval marks ``has_answer``."""
        return [f"{sid}:{n}" for sid, _, turns in self.sessions for n, t in enumerate(turns) if t.get("has_answer")]

    @property
    def abstention(self) -> bool:
        return self.id.endswith("_abs")

    def turns(self) -> list[Turn]:
        """The history as edgemem turns: speaker User / Assistant, the session's date, key "<session>:<n>"."""
        return [
            Turn("User" if t["role"] == "user" else "Assistant", str(t["content"]), date, self.id, f"{sid}:{n}")
            for sid, date, turns in self.sessions
            for n, t in enumerate(turns)
            if str(t.get("content", "")).strip()
        ]


def load(path: Path) -> list[Question]:
    """The questions of a file in LongMemEval's format, each history's sessions in date order."""
    if not path.is_file():
        raise SystemExit(f"No LongMemEval file at {path}. Fix: pass --data FILE (a file in LongMemEval's format).")
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for i, q in enumerate(data):
        missing = {"question_id", "question_type", "question", "answer", "question_date", "haystack_sessions"} - set(q)
        if missing:
            raise SystemExit(f"{path}: question {i} has no {', '.join(sorted(missing))}. Fix: a LongMemEval file.")
        dates, ids = q.get("haystack_dates", []), q.get("haystack_session_ids", [])
        sessions = [
            (str(ids[n]) if n < len(ids) else f"s{n}", str(dates[n]) if n < len(dates) else "", s)
            for n, s in enumerate(q["haystack_sessions"])
        ]
        sessions.sort(key=lambda s: date_key(s[1]))  # stable: sessions of one date keep their order
        out.append(
            Question(
                str(q["question_id"]),
                str(q["question_type"]),
                str(q["question"]),
                str(q["answer"]),
                str(q["question_date"]),
                sessions,
                [str(s) for s in q.get("answer_session_ids", [])],
            )
        )
    return out


def date_key(date: str) -> str:
    """A sortable form of LongMemEval's "2023/05/21 (Sun) 19:50" (the weekday left out)."""
    return re.sub(r"\s*\([A-Za-z]+\)\s*", " ", date).strip()


def stratum(q: Question) -> str:
    return f"{q.type}{'_abs' if q.abstention else ''}"


def stratified(questions: list[Question], n: int, seed: int = 0) -> list[Question]:
    """``n`` questions drawn in proportion to each question type (abstention questions a stratum of their
    own), at least one of each stratum while ``n`` allows; the file's order is kept."""
    groups: dict[str, list[Question]] = defaultdict(list)
    for q in questions:
        groups[stratum(q)].append(q)
    if n >= len(questions):
        return list(questions)
    rng = random.Random(seed)
    share = {k: max(1, round(n * len(v) / len(questions))) if n >= len(groups) else 0 for k, v in groups.items()}
    while sum(share.values()) > n:  # rounding up: take back from the largest strata
        share[max(share, key=lambda k: share[k])] -= 1
    while sum(share.values()) < n:
        share[max(groups, key=lambda k: len(groups[k]) - share[k])] += 1
    picked = {q.id for k, v in groups.items() for q in rng.sample(v, min(share[k], len(v)))}
    return [q for q in questions if q.id in picked]


def score_answer(q: Question, prediction: str) -> dict[str, float]:
    """F1 and exact match; for an abstention question 1 in both when the answer abstains, else 0."""
    return score_row(prediction, q.answer, q.abstention)


def score_row(prediction: str, gold: str, abstention: bool) -> dict[str, float]:
    """:func:`score_answer` from a row's own fields (the committed predictions are rescored with it)."""
    if abstention:
        right = float(abstained(prediction))
        return {"f1": right, "em": right}
    s = score(prediction, gold)
    return {"f1": s["f1"], "em": s["em"]}


def session_recall(q: Question, keys: list[str]) -> float | None:
    """The share of the question's evidence sessions of which the context holds a turn (keys "<session>:<n>")."""
    if not q.answer_sessions:
        return None
    held = {k.rsplit(":", 1)[0] for k in keys}
    return sum(s in held for s in q.answer_sessions) / len(q.answer_sessions)


def turn_recall(q: Question, keys: list[str]) -> float | None:
    """The share of the question's evidence turns (``has_answer``) the context holds, as turns or as facts
    taken from them: stricter than :func:`session_recall`, which one turn of a 20-turn session satisfies.
    None for a question without marked turns (most abstention questions)."""
    evidence = q.answer_turns
    if not evidence:
        return None
    held = set(keys)
    return sum(k in held for k in evidence) / len(evidence)


# -- running -------------------------------------------------------------------------------------------


def edgemem_row(
    q: Question, config: MemoryConfig, banks: Path, engine: Any, embedder: Any, retrieval_only: bool = False
) -> dict[str, Any]:
    """Ingest the question's history into its cached bank (resumes), then answer at the question's date.

    ``retrieval_only``: the history is only stored, as ``add()`` stores it (raw turns, no facts: the
    consolidator does not run), and the row holds the context the answer agent would read. The turns stay
    queued in the same cached bank, so a later run without it consolidates them."""
    from edgemem import Memory
    from edgemem.answer import AnswerAgent
    from edgemem.locomo import bank_file
    from edgemem.prompts import render_memory

    if retrieval_only:
        config = replace(config, background=False)  # nothing consolidates behind the measurement
    t0 = time.perf_counter()
    with Memory(bank_file(banks, q.id, config), user="lme", config=config, engine=engine, embedder=embedder) as mem:
        res = mem.ingest(q.turns(), wait=not retrieval_only)
        ingest = {
            "turns": res.stored + res.skipped,
            "consolidated_now": res.processed,
            "seconds_now": time.perf_counter() - t0,
            "llm_calls": sum(r.llm_calls for r in res.results),
            "memories": mem.stats()["memories"],
        }
        if retrieval_only:
            t1 = time.perf_counter()
            step = mem.answer_agent.step(q.question, mem.answer_agent.retrieve("lme", q.question), q.date)
            lines = [
                AnswerAgent.plain_line(h) if step.schema is None else render_memory(n, h.time, AnswerAgent.line_text(h))
                for n, h in enumerate(step.context, start=1)
            ]
            return {
                "context_keys": context_keys(mem.store, step.context),
                "context_tokens": engine.count_tokens("\n".join(lines)),
                "retrieval_s": time.perf_counter() - t1,
                "ingest": ingest,
            }
        a = mem.answer(q.question, now=q.date)
        return {
            "prediction": a.answer,
            "context_keys": context_keys(mem.store, a.context),
            "latency_s": a.total_s,
            "prompt_tokens": a.prompt_tokens,
            "cited": [i for i, h in enumerate(a.context, start=1) if h in a.cited],
            "unmentioned": a.unmentioned,
            "abstain_unmentioned": config.abstain_unmentioned,
            "answer_format": config.answer_format,
            "ingest": ingest,
        }


def run(args: argparse.Namespace, engine: Any = None, embedder: Any = None) -> dict[str, Any]:
    """The run ``main`` parses flags for; ``engine`` / ``embedder`` given (tests) replace the real ones."""
    from edgemem.embedder import Embedder
    from edgemem.engine import LlamaEngine
    from edgemem.models import resolve_model, sha256_file, shipped_adapters

    questions = load(args.data)
    if args.types:
        unknown = set(args.types) - set(TYPES)
        if unknown:
            raise SystemExit(f"Unknown --types {', '.join(sorted(unknown))}. Fix: some of {', '.join(TYPES)}.")
        questions = [q for q in questions if q.type in args.types]
    if args.sample:
        questions = stratified(questions, args.sample, args.seed)
    if args.max_questions:
        questions = questions[: args.max_questions]
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    pred_path = out / "predictions.jsonl"
    done = set()
    if pred_path.exists():
        rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
        # edgemem's answers made with other answer settings would mix two systems under one name (rows from
        # before a setting existed were made without the rule, in the cited format)
        for key, was, flag in (
            ("abstain_unmentioned", False, lambda v: "--abstain-unmentioned" if v else "--no-abstain-unmentioned"),
            ("answer_format", "cited", lambda v: f"--answer-format {v}"),
        ):
            mixed = [
                r
                for r in rows
                if r["system"] == "edgemem"
                and "prediction" in r  # retrieval-only rows answer nothing
                and r.get(key, was) != getattr(args, key)
            ]
            if mixed:
                raise SystemExit(
                    f"{pred_path} holds edgemem rows made with another {key}. Fix: pass "
                    f"{flag(mixed[0].get(key, was))}, or another --out."
                )
        done = {(r["system"], r["question_id"]) for r in rows}
    model_path = resolve_model(args.model)
    shipped = shipped_adapters(args.model)
    loaded = None  # the harness's own engine judges too when the judge is its model (an injected one may not be)
    if engine is None:
        # edgemem is the runtime's default: its answer agent asks for the trained adapter installed for the model;
        # the baselines and the judge ask for none, so they run on the plain base model of the same engine
        engine = LlamaEngine(model_path, n_ctx=args.n_ctx, threads=args.threads, adapters=dict(shipped))
        loaded = (model_path, engine)
    embedder = embedder or Embedder()
    config = MemoryConfig(
        model=args.model,
        threads=args.threads,
        n_ctx=args.n_ctx,
        extract_batch=args.extract_batch,
        manager_add_by_number=args.manager_add_by_number,
        manager_keep_shifted_facts=args.manager_keep_shifted_facts,
        manager_lines=args.manager_lines,
        raw_only_speakers=() if args.assistant_facts else ("Assistant",),
        abstain_unmentioned=args.abstain_unmentioned,
        answer_format=args.answer_format,
    )
    with pred_path.open("a") as sink:
        for n, q in enumerate(questions, start=1):
            # one question's turn vectors serve rag and rag-hybrid, then go: S histories are ~500 turns each
            baselines = Baselines(engine, embedder, args.rag_k, system=BASELINE_SYSTEM)
            for system in args.systems:
                if (system, q.id) in done:
                    continue
                if system == "edgemem":
                    row = edgemem_row(q, config, args.banks or out / "banks", engine, embedder, args.retrieval_only)
                elif args.retrieval_only:
                    row = retrieval_row(baselines, system, q)
                else:
                    turns = q.turns() if system != "none" else []
                    conv = SimpleNamespace(sample_id=q.id)
                    prediction, meta = baselines.answer(system, conv, turns, q.question, now=q.date)
                    row = {"prediction": prediction, **meta}
                row = {
                    "system": system,
                    "question_id": q.id,
                    "type": q.type,
                    "abstention": q.abstention,
                    "gold": q.answer,
                    **row,
                }
                if "prediction" in row:
                    row.update(score_answer(q, row["prediction"]))
                if "context_keys" in row:
                    row["session_recall"] = session_recall(q, row["context_keys"])
                    row["turn_recall"] = turn_recall(q, row["context_keys"])
                sink.write(json.dumps(row) + "\n")
                sink.flush()
                said = (
                    f"{row['prediction']!r} (f1 {row['f1']:.2f})"
                    if "prediction" in row
                    else f"evidence-session recall {row['session_recall']}"
                )
                print(f"[{n}/{len(questions)}] {system} {q.id}: {said}", file=sys.stderr)
    if args.judge:
        judge_rows(pred_path, questions, args.judge, args.threads, loaded)
    by_id = {q.id: q for q in questions}
    rows = [r for r in map(json.loads, pred_path.read_text().splitlines()) if r["question_id"] in by_id]
    for r in rows:  # from the stored context, so rows written before turn recall was recorded have it too
        if "context_keys" in r:
            r["turn_recall"] = turn_recall(by_id[r["question_id"]], r["context_keys"])
    summary = {
        "benchmark": "longmemeval",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "data": str(args.data),
        "questions": len(questions),
        "sample": args.sample,
        "seed": args.seed,
        "types": args.types,
        "systems": args.systems,
        "model": {"name": args.model, "file": model_path.name, "sha256": sha256_file(model_path)},
        # edgemem's answer adapter (the one installed for the model; none when none was installed)
        "adapters": {agent: sha256_file(path) for agent, path in sorted(shipped.items())} if loaded else {},
        "threads": args.threads,
        "n_ctx": args.n_ctx,
        "rag_k": args.rag_k,
        "extract_batch": args.extract_batch,
        "manager_add_by_number": args.manager_add_by_number,
        "manager_keep_shifted_facts": args.manager_keep_shifted_facts,
        "manager_lines": args.manager_lines,
        "assistant_facts": args.assistant_facts,
        "abstain_unmentioned": args.abstain_unmentioned,
        "retrieval_only": args.retrieval_only,
        "judge": f"local GGUF judge {args.judge} (not the GPT-4o judge of the paper)" if args.judge else None,
        "machine": machine_info(),
        **scores(rows, args.systems),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown(summary))
    plot(summary, out)
    print(markdown(summary))
    return summary


def judge_rows(
    pred_path: Path, questions: list[Question], judge_model: str, threads: int, loaded: tuple[Path, Any] | None = None
) -> None:
    """Label every answered row of ``questions`` not yet judged by ``judge_model`` (LongMemEval's rule for its
    question type, benchmarks.judge; abstention questions by the deterministic rule); the file is rewritten
    in place. ``loaded``: the harness's (model path, engine), reused when the judge is the same model."""
    by_id = {q.id: q for q in questions}
    rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
    todo = [r for r in rows if r["question_id"] in by_id and "prediction" in r and r.get("judge_model") != judge_model]
    if not todo:
        return
    judge = judge_engine(judge_model, threads, loaded)[1]
    for r in todo:
        q = by_id[r["question_id"]]
        r["judge"] = lme_label(judge, q.type, q.question, q.answer, r["prediction"], q.abstention)
        r["judge_model"] = judge_model
    tmp = pred_path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(pred_path)  # a crash leaves the old file whole


def retrieval_row(baselines: Baselines, system: str, q: Question) -> dict[str, Any]:
    """What rag or rag-hybrid would put in the prompt for ``q``, without the model call: its dialogue ids,
    its size in tokens and the time the retrieval took (embedding the history included)."""
    t0 = time.perf_counter()
    lines, keys = baselines.retrieve(system, SimpleNamespace(sample_id=q.id), q.turns(), q.question)
    return {
        "context_keys": keys,
        "context_tokens": baselines.engine.count_tokens("\n".join(lines)),
        "retrieval_s": time.perf_counter() - t0,
    }


# -- scoring -------------------------------------------------------------------------------------------


def scores(rows: list[dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    """Mean F1 / EM (×100) per system: all, per question type, abstention; evidence-session recall; answer
    latency; ingest cost (edgemem); and each system paired against rag on the same questions."""
    by_system: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_system[r["system"]].append(r)

    def agg(rs: list[dict[str, Any]]) -> dict[str, Any]:
        entry: dict[str, Any] = {"n": len(rs)}
        answered = [r for r in rs if "f1" in r]  # a retrieval-only run has none
        if answered:
            entry["f1"] = 100 * statistics.fmean(r["f1"] for r in answered)
            entry["em"] = 100 * statistics.fmean(r["em"] for r in answered)
            if all("judge" in r for r in answered):
                entry["judge"] = 100 * statistics.fmean(r["judge"] for r in answered)
        if rs:
            recalls = [r["session_recall"] for r in rs if r.get("session_recall") is not None]
            if recalls:
                entry["session_recall"] = statistics.fmean(recalls)
                entry["session_complete"] = statistics.fmean(x == 1.0 for x in recalls)
            turns = [r["turn_recall"] for r in rs if r.get("turn_recall") is not None]
            if turns:
                entry["turn_recall"] = statistics.fmean(turns)
                entry["turn_complete"] = statistics.fmean(x == 1.0 for x in turns)
                entry["turn_n"] = len(turns)
        return entry

    table: dict[str, Any] = {}
    for system in systems:
        rs = by_system.get(system, [])
        entry: dict[str, Any] = {"all": agg(rs)}
        for t in TYPES:
            kept = [r for r in rs if r["type"] == t]
            if kept:
                entry[t] = agg(kept)
        entry[ABSTENTION] = agg([r for r in rs if r["abstention"]])
        # a stratified sample holds more abstention questions than the file (one of each kind at least)
        entry[ANSWERABLE] = agg([r for r in rs if not r["abstention"]])
        lat = [r["latency_s"] for r in rs if "latency_s" in r]
        entry["answer_p50_s"] = percentile(lat, 50)
        sizes = [r["context_tokens"] for r in rs if "context_tokens" in r]
        if sizes:
            entry["context_tokens_p50"] = percentile(sizes, 50)
        ingests = [r["ingest"] for r in rs if "ingest" in r]
        if ingests:
            now = [i for i in ingests if i["consolidated_now"]]
            entry["ingest"] = {
                "turns_per_question_p50": percentile([i["turns"] for i in ingests], 50),
                "seconds_per_question_p50": percentile([i["seconds_now"] for i in now], 50) if now else None,
                "seconds_per_turn": (
                    sum(i["seconds_now"] for i in now) / sum(i["consolidated_now"] for i in now) if now else None
                ),
                "memories_per_question_p50": percentile([i["memories"] for i in ingests], 50),
            }
        table[system] = entry

    def paired(metric: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        base = {r["question_id"]: r[metric] for r in by_system.get("rag", []) if r.get(metric) is not None}
        if not base:
            return out
        for system in systems:
            if system == "rag" or system not in by_system:
                continue
            common = [r for r in by_system[system] if r["question_id"] in base and r.get(metric) is not None]
            if common:
                out[f"{system} - rag"] = paired_delta(
                    [r[metric] for r in common], [base[r["question_id"]] for r in common]
                )
        return out

    return {
        "scores": table,
        "paired_f1": paired("f1"),
        "paired_judge": paired("judge"),
        "paired_turn_recall": paired("turn_recall"),
    }


def markdown(s: dict[str, Any]) -> str:
    systems = [x for x in s["systems"] if x in s["scores"]]
    lines = [
        f"# LongMemEval: {s['questions']} questions of {Path(s['data']).name}"
        + (f" (stratified sample, seed {s['seed']})" if s.get("sample") else ""),
        "",
        (
            "Retrieval only (no model call): the share of each question's evidence sessions of which the context "
            "holds a turn."
            if s.get("retrieval_only")
            else f"Model {s['model']['name']} ({s['threads']} threads). Token F1 (×100); abstention questions score "
            "1 when the answer says the history does not hold it. Neither this nor the local judge below is "
            "comparable with the paper's GPT-4o judge."
        ),
        "",
        f"| {'evidence-session recall' if s.get('retrieval_only') else 'F1'} | " + " | ".join(systems) + " |",
        "|---|" + "---|" * len(systems),
    ]
    for key in ("all", ANSWERABLE, *TYPES, ABSTENTION):
        cells = []
        for system in systems:
            e = s["scores"][system].get(key) or {}
            if s.get("retrieval_only"):
                cells.append(f"{e['session_recall']:.2f} ({e['n']})" if "session_recall" in e else "-")
            else:
                cells.append(f"{e['f1']:.1f} ({e['n']})" if "f1" in e else "-")
        if any(c != "-" for c in cells):
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    recall = [s["scores"][x]["all"].get("session_recall") for x in systems]
    complete = [s["scores"][x]["all"].get("session_complete") for x in systems]
    if any(r is not None for r in complete):
        lines.append(
            "| all evidence sessions held | " + " | ".join("-" if r is None else f"{r:.2f}" for r in complete) + " |"
        )
    if any(r is not None for r in recall) and not s.get("retrieval_only"):
        lines.append(
            "| evidence-session recall | " + " | ".join("-" if r is None else f"{r:.2f}" for r in recall) + " |"
        )
    turns = [s["scores"][x]["all"] for x in systems]
    if any("turn_recall" in e for e in turns):
        lines.append(
            "| evidence-turn recall (questions with marked turns) | "
            + " | ".join(f"{e['turn_recall']:.2f} ({e['turn_n']})" if "turn_recall" in e else "-" for e in turns)
            + " |"
        )
        lines.append(
            "| all evidence turns held | "
            + " | ".join(f"{e['turn_complete']:.2f}" if "turn_recall" in e else "-" for e in turns)
            + " |"
        )
    sizes = [s["scores"][x].get("context_tokens_p50") for x in systems]
    if any(v is not None for v in sizes):
        lines.append("| context tokens p50 | " + " | ".join("-" if v is None else f"{v:.0f}" for v in sizes) + " |")
    p50 = [s["scores"][x].get("answer_p50_s") for x in systems]
    if any(v is not None for v in p50):
        lines.append("| answer p50 s | " + " | ".join("-" if v is None else f"{v:.2f}" for v in p50) + " |")
    for name, d in s.get("paired_f1", {}).items():
        lines.append("")
        lines.append(
            f"{name}: {d['delta']:+.1f} F1 (95 % interval {d['ci95_low']:+.1f} to {d['ci95_high']:+.1f}; "
            f"{d['better']} better, {d['worse']} worse)"
        )
    for name, d in s.get("paired_turn_recall", {}).items():
        lines.append("")
        lines.append(
            f"{name}: {d['delta']:+.1f} points of evidence-turn recall (95 % interval {d['ci95_low']:+.1f} to "
            f"{d['ci95_high']:+.1f}; {d['better']} better, {d['worse']} worse)"
        )
    ingest = s["scores"].get("edgemem", {}).get("ingest")
    if ingest:
        lines += [
            "",
            f"edgemem ingest: {ingest['turns_per_question_p50']} turns per question (p50), "
            + (
                f"{ingest['seconds_per_question_p50']:.0f} s per question (p50), "
                if ingest["seconds_per_question_p50"]
                else ""
            )
            + (f"{ingest['seconds_per_turn']:.2f} s per turn, " if ingest["seconds_per_turn"] else "")
            + f"{ingest['memories_per_question_p50']} memories per question (p50).",
        ]
    if s.get("judge") and any("judge" in s["scores"][x]["all"] for x in systems):
        lines += ["", f"Judged right, % ({s['judge']}):", "", "| judge | " + " | ".join(systems) + " |"]
        lines.append("|---|" + "---|" * len(systems))
        for key in ("all", ANSWERABLE, *TYPES, ABSTENTION):
            cells = [
                f"{e['judge']:.1f} ({e['n']})" if "judge" in e else "-"
                for e in (s["scores"][x].get(key) or {} for x in systems)
            ]
            if any(c != "-" for c in cells):
                lines.append(f"| {key} | " + " | ".join(cells) + " |")
        for name, d in s.get("paired_judge", {}).items():
            lines.append("")
            lines.append(
                f"{name}: {d['delta']:+.1f} points judged right (95 % interval {d['ci95_low']:+.1f} to "
                f"{d['ci95_high']:+.1f}; {d['better']} better, {d['worse']} worse)"
            )
    return "\n".join(lines) + "\n"


def plot(s: dict[str, Any], out: Path) -> None:
    """F1 (or, retrieval only, evidence-session recall) per question type and for abstention, one bar per
    system (``f1_per_type.png`` / ``session_recall_per_type.png``)."""
    plt = pyplot()
    if plt is None:
        return
    systems = [x for x in s["systems"] if x in s["scores"]]
    keys = [
        k for k in (*TYPES, ABSTENTION, ANSWERABLE, "all") if any(s["scores"][x].get(k, {}).get("n") for x in systems)
    ]
    metric, name = ("session_recall", "evidence-session recall") if s.get("retrieval_only") else ("f1", "F1")
    series = {x: [s["scores"][x].get(k, {}).get(metric, 0) for k in keys] for x in systems}
    labels = [k.replace("-", "-\n", 1) for k in keys]
    title = f"LongMemEval, {s['questions']} questions of {Path(s['data']).name}: {name} per question type"
    grouped_bars(plt, out / f"{metric}_per_type.png", labels, series, title, width_in=10, ylabel=name)


def main(argv: list[str] | None = None, engine: Any = None, embedder: Any = None) -> dict[str, Any]:
    defaults = MemoryConfig()
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="a file in LongMemEval's format")
    p.add_argument("--plots-from", type=Path, default=None, help="only draw the plot of a finished run folder")
    p.add_argument("--systems", default="none,rag,rag-hybrid,edgemem", help=f"comma list of {', '.join(SYSTEMS)}")
    p.add_argument("--types", default=None, help=f"comma list of question types ({', '.join(TYPES)})")
    p.add_argument("--sample", type=int, default=None, help="a sample of N questions stratified by type")
    p.add_argument("--seed", type=int, default=0, help="the sample's seed")
    p.add_argument("--max-questions", type=int, default=None, help="only the first N questions (after --sample)")
    p.add_argument("--model", default="qwen2.5-coder-0.5b", help="registry name or .gguf path")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-ctx", type=int, default=defaults.n_ctx)
    p.add_argument("--rag-k", type=int, default=10, help="rag / rag-hybrid: turns in the prompt")
    p.add_argument(
        "--extract-batch", type=int, default=defaults.extract_batch, help="edgemem: messages per extraction call"
    )
    add_manager_flags(p)
    p.add_argument(
        "--assistant-facts",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="edgemem: extract facts from the assistant's replies too (default: kept as raw turns only)",
    )
    add_abstain_flag(p)
    p.add_argument(
        "--answer-format",
        choices=ANSWER_FORMATS,
        default=MemoryConfig.answer_format,
        help="edgemem: plain (short answer, turns first) or cited (Memory-R1's JSON with cited numbers)",
    )
    p.add_argument(
        "--retrieval-only",
        action="store_true",
        help="score what the retrieval puts in the context, ask the model nothing (edgemem: over the stored "
        "messages, before any consolidation)",
    )
    p.add_argument(
        "--judge",
        default=None,
        help="a local GGUF (registry name or path) as LLM judge with LongMemEval's per-type rules; a finished "
        "run given again with --judge is judged without answering anew",
    )
    p.add_argument("--banks", type=Path, default=None, help="cache of ingested banks (default <out>/banks)")
    p.add_argument("--out", type=Path, default=None, help="folder for everything written")
    args = p.parse_args(argv)
    if args.plots_from is not None:
        summary = json.loads((args.plots_from / "summary.json").read_text())
        plot(summary, args.plots_from)
        return summary
    if args.data is None:
        p.error("--data FILE is needed (a file in LongMemEval's format)")
    args.systems = [x for x in args.systems.split(",") if x]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        raise SystemExit(f"Unknown --systems {', '.join(sorted(unknown))}. Fix: some of {', '.join(SYSTEMS)}.")
    retrieving = {"rag", "rag-hybrid", "edgemem"}
    if args.retrieval_only and set(args.systems) - retrieving:
        raise SystemExit(
            f"--retrieval-only scores rag, rag-hybrid and edgemem, not {', '.join(sorted(set(args.systems) - retrieving))}"
            " (no context to score). Fix: --systems rag,rag-hybrid,edgemem."
        )
    args.types = [x for x in args.types.split(",") if x] if args.types else None
    if args.out is None:
        args.out = Path("benchmarks/results") / f"longmemeval-{datetime.now():%Y%m%d-%H%M%S}"
    return run(args, engine, embedder)


if __name__ == "__main__":
    main()
