"""LoCoMo accuracy of edgemem and baselines, same model and data, in one run.

    python -m benchmarks.locomo --conversations conv-30                       # all systems
    python -m benchmarks.locomo --conversations conv-30,conv-41 --systems rag,edgemem --threads 2
    python -m benchmarks.locomo --conversations conv-30 --manifest exports/answer/manifest.json
    python -m benchmarks.locomo --conversations conv-30 --max-sessions 2 --max-questions 20   # small machines

Systems (each answers every non-adversarial question of each conversation):
  none     the model alone, no memory;
  rag      raw-turn RAG: every turn embedded as "[session time] speaker: text" (image captions kept),
           the top --rag-k turns by cosine put in the prompt in dialogue order (LoCoMo-RAG baseline);
  rag-hybrid  the same over the same turns, ranked by edgemem's hybrid search instead (vectors and
           keywords fused by reciprocal rank): what better search alone gives, same prompt and k;
  full     the whole conversation, truncated from the start to fit the model's window;
  edgemem  the runtime's default: ingest through the Memory Manager, answer with the Answer Agent (plain
           answers by default; with --answer-format cited, the trained answer adapter installed for the
           model, make answer-agent; none: = untrained); the bank is cached per conversation, model and
           settings, and resumable;
  untrained  the same pipeline with adapters off (Memory-R1 "BASE"; adapters={}), on the same bank;
  trained  edgemem with exported agents (--manifest; cited answers);
  mem0     the peer: Mem0 (mem0ai 1.0.11) on the same model through llama-cpp-python's OpenAI server
           on loopback, the same MiniLM embedder, telemetry off (extra [peer]; benchmarks/mem0_peer.py).

Writes into --out: predictions.jsonl (one line per system and question, appended as it goes: an
interrupted run continues where it stopped), summary.json (scores per system and category, latency,
machine, model hash, versions), summary.md, and plots (per-category F1, F1 vs answer latency).
Scores (benchmarks.scoring): token-set F1, BLEU-1, exact match; optional local LLM judge (--judge),
which is NOT the GPT-4o-mini judge of the papers.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import grouped_bars, pyplot
from benchmarks.judge import judge_engine, locomo_label
from benchmarks.scoring import CATEGORY_LOCOMO, CATEGORY_MEM0, paired_delta, score
from edgemem.config import ANSWER_ADAPTERS, ANSWER_FORMATS, PRESETS, MemoryConfig
from edgemem.machine import machine_info, percentile
from edgemem.manifest import served_model
from edgemem.prompts import PLAIN_ANSWER_SYSTEM, first_line, plain_answer_messages

SYSTEMS = ("none", "rag", "rag-hybrid", "full", "edgemem", "untrained", "trained", "mem0")
# the systems that ingest through the Memory Manager and answer with the Answer Agent
MEMORY_SYSTEMS = ("edgemem", "untrained", "trained")

# rag and rag-hybrid answer with the runtime's plain answer prompt (MemoryConfig.answer_format="plain"):
# the baselines and edgemem's default answers differ only in what they read.
BASELINE_SYSTEM = PLAIN_ANSWER_SYSTEM


class Baselines:
    """none / rag / full on one engine and embedder."""

    def __init__(self, engine: Any, embedder: Any, rag_k: int, system: str = BASELINE_SYSTEM) -> None:
        self.engine, self.embedder, self.rag_k, self.system = engine, embedder, rag_k, system
        self._vectors: dict[str, Any] = {}
        self._stores: dict[str, Any] = {}

    def hybrid_top(self, conv: Any, turns: list[Any], question: str) -> list[int]:
        """Indices of the top ``rag_k`` turns by the runtime's hybrid search (``Store.search_turns`` with
        the question's words) over an in-memory store of exactly the lines RAG embeds, in dialogue order."""
        return sorted(self.hybrid_ranked(conv, turns, question))

    def hybrid_ranked(self, conv: Any, turns: list[Any], question: str) -> list[int]:
        """:meth:`hybrid_top`, best first."""
        from edgemem.store import Store, Turn

        key = f"{conv.sample_id}:{len(turns)}"
        if key not in self._stores:
            store = Store(None)
            lines = [t.vector_text() for t in turns]
            for i, (line, vector) in enumerate(zip(lines, self._turn_vectors(key, turns), strict=True)):
                store.apply_turn("rag", Turn("", line, None, "rag", str(i)), vector, [])
            self._stores[key] = store
        hits = self._stores[key].search_turns("rag", self.embedder.embed_one(question), self.rag_k, text=question)
        return [h.id - 1 for h in hits]  # row ids are 1.. in insertion (dialogue) order

    def _fit(self, turns: list[Any], ranked: list[int]) -> list[int]:
        """The ranked turns that fit the model's window, best first (a turn too long for what is left is
        passed over), in dialogue order. LoCoMo's ten short turns always fit; LongMemEval's assistant
        turns run to hundreds of words."""
        budget, used, kept = self.engine.n_ctx - 400, 0, []
        for i in ranked:
            n = self.engine.count_tokens(turns[i].vector_text()) + 1
            if used + n <= budget:
                kept.append(i)
                used += n
        return sorted(kept)

    def _turn_vectors(self, key: str, turns: list[Any]) -> Any:
        if key not in self._vectors:
            self._vectors[key] = self.embedder.embed([t.vector_text() for t in turns])
        return self._vectors[key]

    def retrieve(self, system: str, conv: Any, turns: list[Any], question: str) -> tuple[list[str], list[str]]:
        """The context lines rag or rag-hybrid puts in the prompt, in dialogue order, and their dialogue ids;
        no model call (the LongMemEval harness's retrieval-only runs stop here)."""
        if system == "rag":
            import numpy as np

            sims = self._turn_vectors(f"{conv.sample_id}:{len(turns)}", turns) @ self.embedder.embed_one(question)
            top = self._fit(turns, [int(i) for i in np.argsort(-sims)[: self.rag_k]])
        elif system == "rag-hybrid":
            top = self._fit(turns, self.hybrid_ranked(conv, turns, question))
        else:
            raise ValueError(f"no retrieval for system {system!r}; rag or rag-hybrid")
        return [turns[i].vector_text() for i in top], [turns[i].key for i in top]

    def answer(
        self,
        system: str,
        conv: Any,
        turns: list[Any],
        question: str,
        context: list[str] | None = None,
        now: str | None = None,
    ) -> tuple[str, dict[str, Any]]:
        """Answer with the baseline prompt; ``context`` given (the Mem0 peer's memories) is used as is;
        ``now``: when the question is asked (LongMemEval), None for LoCoMo."""
        t0 = time.perf_counter()
        keys: list[str] | None = None  # the dialogue ids in the context (evidence recall), where known
        if system in ("rag", "rag-hybrid"):
            context, keys = self.retrieve(system, conv, turns, question)
        elif system == "full":
            budget = self.engine.n_ctx - 400
            lines = [t.vector_text() for t in turns]
            while lines and self.engine.count_tokens("\n".join(lines)) > budget:
                lines = lines[max(1, len(lines) // 20) :]  # drop the oldest 5 %
            context = lines
        else:
            context = list(context or [])
        c = self.engine.complete(
            plain_answer_messages(question, context, now, self.system), max_tokens=32, prefix_key=f"baseline-{system}"
        )
        return first_line(c.text), {
            **({"context_keys": keys} if keys is not None else {}),
            "latency_s": time.perf_counter() - t0,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
        }


STREAM = "@streaming"


def used_shipped_adapters(args: argparse.Namespace) -> dict[str, Path]:
    """The trained adapters installed for the model that edgemem applies with ``--answer-format``: the
    manager's and the answer adapter of that format."""
    from edgemem.models import shipped_adapters

    used = ("manager", ANSWER_ADAPTERS[args.answer_format])
    return {agent: path for agent, path in shipped_adapters(args.model).items() if agent in used}


def system_settings(args: argparse.Namespace, label: str, model_sha: str) -> dict[str, Any]:
    """What shapes one system's predictions: finished rows are reused only under the same settings."""
    from edgemem.models import sha256_file

    system = label.removesuffix(STREAM)
    settings: dict[str, Any] = {"model_sha256": model_sha, "n_ctx": args.n_ctx, "data": str(args.data)}
    settings.update(max_sessions=args.max_sessions, judge=args.judge)
    if system in MEMORY_SYSTEMS:
        settings.update(answer_k=args.answer_k, answer_turns_k=args.answer_turns_k, search=args.search)
        if args.answer_format != "cited":  # runs made before the plain format were cited
            settings["answer_format"] = args.answer_format
        if args.answer_context != "per-speaker":  # runs made before the budgeted context keep their settings
            settings.update(answer_context=args.answer_context, answer_budget_tokens=args.answer_budget)
        if args.resolve_dates:  # only when on, so earlier runs keep their settings
            settings["resolve_dates"] = True
        if args.manager_only_when_related:
            settings["manager_only_when_related"] = True
        if args.manager_add_by_number:
            settings["manager_add_by_number"] = True
        if args.manager_keep_shifted_facts:
            settings["manager_keep_shifted_facts"] = True
        if args.manager_lines:
            settings["manager_lines"] = True
        if args.admission_gate:
            settings["admission_gate"] = True
        if args.extract_batch != 1:
            settings["extract_batch"] = args.extract_batch
        if args.abstain_unmentioned:
            settings["abstain_unmentioned"] = True
    if system == "trained":
        settings["manifest_sha256"] = sha256_file(Path(args.manifest))
    shipped = used_shipped_adapters(args) if system == "edgemem" else {}
    if shipped:  # only when one is installed, so the rows made without keep their settings
        settings["adapters"] = {agent: sha256_file(path) for agent, path in sorted(shipped.items())}
    if system in ("rag", "rag-hybrid", "mem0"):  # Mem0's answers read its top rag_k memories per speaker
        settings["rag_k"] = args.rag_k
    return settings


def check_settings(out: Path, wanted: dict[str, dict[str, Any]]) -> None:
    """Refuse to add rows to ``out`` for a system whose earlier rows were made with other settings
    (another manifest, k, model ...): the resumed run would silently mix them or skip the new ones."""
    path = out / "settings.json"
    known: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for label, settings in wanted.items():
        old = known.get(label)
        if old is not None and old != settings:
            changed = sorted(k for k in set(old) | set(settings) if old.get(k) != settings.get(k))
            raise SystemExit(
                f"Error: {out} holds '{label}' rows made with other settings ({', '.join(changed)} differ). "
                f"Fix: use another --out, or delete {out / 'predictions.jsonl'} and {path} to start over."
            )
    path.write_text(json.dumps({**known, **wanted}, indent=2))


def labels(systems: list[str], protocol: str) -> list[str]:
    """The rows of a run: memory systems answer after the whole conversation is ingested (batch),
    as soon as each question's evidence is (streaming, labelled ``<system>@streaming``), or both.

    >>> labels(["rag", "edgemem"], "both")
    ['rag', 'edgemem', 'edgemem@streaming']
    """
    out = []
    for s in systems:
        if protocol in ("batch", "both") or s not in MEMORY_SYSTEMS:
            out.append(s)
        if protocol in ("streaming", "both") and s in MEMORY_SYSTEMS:
            out.append(s + STREAM)
    return out


class AsOf:
    """The streaming "evaluate-while-constructing" protocol on a fully ingested bank: a question is
    answered over the bank as it stood right after the session holding its last evidence turn.

    Ingest is sequential and greedy, so that bank is exactly what a run stopped after that session
    would hold; it is rebuilt from the bank's history (``Store.as_of``), not by ingesting again."""

    def __init__(self, mem: Any, conv_id: str, turns: list[Any]) -> None:
        from edgemem.locomo import session_of

        self.mem, self.conv_id = mem, conv_id
        self.session_of = {t.key: session_of(t.key) for t in turns}
        self.sessions = list(dict.fromkeys(self.session_of.values()))
        self.first_turn: dict[str, str] = {}
        for t in turns:
            self.first_turn.setdefault(session_of(t.key), t.key)
        self._stores: dict[int | None, Any] = {}

    def boundary(self, evidence: list[str]) -> int | None:
        """Row id of the first turn after the last evidence session (None: the whole bank)."""
        known = [self.sessions.index(self.session_of[e]) for e in evidence if e in self.session_of]
        if not known or max(known) + 1 >= len(self.sessions):
            return None
        row = self.mem.store.turn_row(self.mem.user, self.conv_id, self.first_turn[self.sessions[max(known) + 1]])
        return None if row is None else row[0]

    def answer(self, qa: Any) -> Any:
        from edgemem.answer import AnswerAgent

        at = self.boundary(qa.evidence)
        if at is None:
            return self.mem.answer(qa.question)
        if at not in self._stores:
            self._stores[at] = self.mem.store.as_of(self.mem.user, at, self.mem.embedder.embed)
        agent = AnswerAgent(self.mem.engine, self.mem.embedder, self._stores[at], self.mem.config)
        return agent.answer(self.mem.user, qa.question)

    def close(self) -> None:
        for store in self._stores.values():
            store.close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tqdm import tqdm

    from edgemem.embedder import Embedder
    from edgemem.engine import LlamaEngine
    from edgemem.locomo import build_bank, load_locomo, require_locomo, select
    from edgemem.models import resolve_model, sha256_file

    out: Path = args.out
    systems = [s for s in args.systems.split(",") if s]
    if "trained" in systems and not args.manifest:
        systems.remove("trained")
    if "trained" in systems and ANSWER_ADAPTERS[args.answer_format] not in served_model(args.manifest).adapters:
        raise SystemExit(
            f"Error: {args.manifest} has no {ANSWER_ADAPTERS[args.answer_format]!r} adapter, so it has no trained "
            f"agent for {args.answer_format} answers. Fix: --answer-format cited --answer-k "
            f"{PRESETS['cited']['answer_k']} --answer-turns-k {PRESETS['cited']['answer_turns_k']} for an "
            "'answer' adapter (the context it was trained on), or an export of --agent answer-plain."
        )
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        raise SystemExit(f"Error: unknown system(s) {unknown}. Expected: {', '.join(SYSTEMS)}.")
    # bad input is refused before anything is written (no empty result folder left behind)
    args.data = require_locomo(args.data)
    convs = {c.sample_id: c for c in load_locomo(args.data)}
    wanted = [c for c in args.conversations.split(",") if c]
    missing = [c for c in wanted if c not in convs]
    if missing:
        raise SystemExit(f"Error: {missing} not in {args.data}. Known: {', '.join(convs)}.")
    out.mkdir(parents=True, exist_ok=True)
    model_path = resolve_model(args.model)
    engine = LlamaEngine(model_path, n_ctx=args.n_ctx, threads=args.threads)
    embedder = Embedder(threads=1)
    baselines = Baselines(engine, embedder, args.rag_k)
    judge = judge_engine(args.judge, args.threads, (model_path, engine))[1] if args.judge else None
    pred_path = out / "predictions.jsonl"
    model_sha = sha256_file(model_path)
    check_settings(out, {label: system_settings(args, label, model_sha) for label in labels(systems, args.protocol)})
    done = set()
    if pred_path.exists():
        for line in pred_path.read_text().splitlines():
            r = json.loads(line)
            done.add((r["system"], r["conversation"], r["qid"]))
    ingest_stats: dict[str, Any] = {}
    peer: Any = None  # the Mem0 server and store, started when the first mem0 row is needed
    with contextlib.ExitStack() as stack, pred_path.open("a", encoding="utf-8") as sink:
        for conv_id in wanted:
            conv = convs[conv_id]
            turns, qas = select(conv, args.max_sessions)
            qas = qas[: args.max_questions] if args.max_questions else qas
            for label in labels(systems, args.protocol):
                system, streaming = label.removesuffix(STREAM), label.endswith(STREAM)
                todo = [(i, q) for i, q in enumerate(qas) if (label, conv_id, i) not in done]
                if not todo:
                    continue
                mem = None
                as_of = None
                if system in MEMORY_SYSTEMS:
                    config = MemoryConfig(
                        model=args.manifest if system == "trained" else args.model,
                        threads=args.threads,
                        n_ctx=args.n_ctx,
                        answer_format=args.answer_format,
                        answer_k=args.answer_k,
                        answer_turns_k=args.answer_turns_k,
                        search=args.search,
                        answer_context=args.answer_context,
                        answer_budget_tokens=args.answer_budget,
                        resolve_dates=args.resolve_dates,
                        manager_only_when_related=args.manager_only_when_related,
                        manager_add_by_number=args.manager_add_by_number,
                        manager_keep_shifted_facts=args.manager_keep_shifted_facts,
                        manager_lines=args.manager_lines,
                        admission_gate=args.admission_gate,
                        extract_batch=args.extract_batch,
                        abstain_unmentioned=args.abstain_unmentioned,
                        adapters={} if system == "untrained" else None,
                    )
                    # the harness's own engine has no adapter: it serves the pipeline only where none applies
                    base = system == "untrained" or (system == "edgemem" and not used_shipped_adapters(args))
                    served = engine if base else None
                    ingest_bar = tqdm(
                        total=len(turns), desc=f"{conv_id} {system}: ingest", unit="turn", file=sys.stderr
                    )
                    t0 = time.perf_counter()
                    mem, res = build_bank(
                        args.banks or out / "banks",
                        conv,
                        config,
                        args.max_sessions,
                        engine=served,
                        embedder=embedder,
                        on_turn=lambda r, b=ingest_bar: b.update(1),  # type: ignore[misc]
                    )
                    ingest_bar.close()
                    per_turn = [r.total_s for r in res.results]
                    ingest_stats[f"{system}/{conv_id}"] = {
                        "turns": len(turns),
                        "ingested_now": res.processed,
                        "seconds_now": time.perf_counter() - t0,
                        "turn_p50_s": percentile(per_turn, 50),
                        "turn_p95_s": percentile(per_turn, 95),
                        "llm_calls": sum(r.llm_calls for r in res.results),
                        # seconds spent in model calls (extraction + manager) by the turns ingested now
                        "model_s": sum(r.extract_s + r.manage_s for r in res.results),
                        "prompt_tokens": sum(r.prompt_tokens for r in res.results),
                        "completion_tokens": sum(r.completion_tokens for r in res.results),
                        "memories": mem.stats()["memories"],
                        # the manager's operations over the whole bank; REJECTED counts the invalid
                        # ones (unknown id, guard, unparseable): manager output validity
                        "operations": mem.store.operation_counts(conv_id),
                    }
                    if streaming:
                        as_of = AsOf(mem, conv_id, turns)
                if system == "mem0":
                    from benchmarks.mem0_peer import Mem0Peer

                    if peer is None:
                        peer = stack.enter_context(Mem0Peer(model_path, out / "mem0", args.threads, args.rag_k))
                    ingest_bar = tqdm(total=len(turns), desc=f"{conv_id} mem0: ingest", unit="turn", file=sys.stderr)
                    t0 = time.perf_counter()
                    added = peer.ingest(conv_id, turns, on_turn=lambda r, b=ingest_bar: b.update(1))
                    ingest_bar.close()
                    every = peer.added(conv_id)  # every message in the bank, added now or by an interrupted earlier run
                    ingest_stats[f"mem0/{conv_id}"] = {
                        "turns": len(turns),
                        "ingested_now": len(added),
                        "seconds_now": time.perf_counter() - t0,
                        **mem0_cost(added),
                        "all_messages": {"n": len(every), **mem0_cost(every)},
                        "server_peak_rss_mb": peer.server_peak_rss_mb(),
                    }
                bar = tqdm(todo, desc=f"{conv_id} {label}: answer", unit="q", file=sys.stderr)
                for i, qa in bar:
                    if mem is not None:
                        a = as_of.answer(qa) if as_of is not None else mem.answer(qa.question)
                        pred, extra = (
                            a.answer,
                            {
                                "latency_s": a.total_s,
                                "prompt_tokens": a.prompt_tokens,
                                "completion_tokens": a.completion_tokens,
                                "cited": [c.text for c in a.cited],
                                # the streaming protocol's snapshot banks do not keep where a fact came from
                                **({} if as_of is not None else {"context_keys": context_keys(mem.store, a.context)}),
                            },
                        )
                    elif system == "mem0":
                        pred, extra = baselines.answer(
                            "mem0", conv, turns, qa.question, peer.context(conv_id, list(conv.speakers), qa.question)
                        )
                    else:
                        pred, extra = baselines.answer(system, conv, turns, qa.question)
                    row = {
                        "system": label,
                        "conversation": conv_id,
                        "qid": i,
                        "question": qa.question,
                        "gold": qa.answer,
                        "category": qa.category,
                        "prediction": pred,
                        **score(pred, qa.answer),
                        **extra,
                    }
                    if "context_keys" in row:
                        row["evidence_recall"] = evidence_recall(qa.evidence, row["context_keys"])
                    if judge is not None:
                        row["judge"] = locomo_label(judge, qa.question, qa.answer, pred)
                    sink.write(json.dumps(row, ensure_ascii=False) + "\n")
                    sink.flush()
                if as_of is not None:
                    as_of.close()
                if mem is not None:
                    mem.close()
    summary = summarize(pred_path, labels(systems, args.protocol), wanted)
    # a resumed run keeps what earlier runs into this folder measured of the banks it did not touch now
    # (a system whose rows were all done is not ingested again, and its ingest cost would be lost)
    previous = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    ingest_stats = {**previous.get("ingest", {}), **ingest_stats}
    summary.update(
        {
            "benchmark": "locomo",
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_info(),
            "model": {"name": args.model, "file": model_path.name, "sha256": model_sha},
            "manifest": args.manifest,
            "threads": args.threads,
            "n_ctx": args.n_ctx,
            "protocol": args.protocol,
            "rag_k": args.rag_k,
            "answer_k": args.answer_k,
            "answer_turns_k": args.answer_turns_k,
            "max_sessions": args.max_sessions,
            "max_questions": args.max_questions,
            "data": str(args.data),
            "judge": f"local GGUF judge {args.judge} (not the GPT-4o-mini judge of the papers)" if args.judge else None,
            "ingest": ingest_stats,
        }
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "summary.md").write_text(markdown(summary))
    plots(summary, out)
    print(markdown(summary))
    return summary


def context_keys(store: Any, hits: list[Any]) -> list[str]:
    """The dialogue ids a context holds: a raw turn's own, and for a fact the turn it was extracted from."""
    sources = store.source_turns([h.id for h in hits if h.kind == "memory"])
    turn_ids = {h.id for h in hits if h.kind == "turn"} | {t for t in sources.values() if t is not None}
    return sorted(set(store.turn_keys(sorted(turn_ids)).values()))


def evidence_recall(evidence: list[str], keys: list[str]) -> float | None:
    """The share of a question's gold evidence turns that its context holds (as turns or as facts taken
    from them); None for a question without evidence.

    >>> evidence_recall(["D1:2", "D3:4"], ["D1:2", "D2:1"]), evidence_recall([], ["D1:1"])
    (0.5, None)
    """
    if not evidence:
        return None
    held = set(keys)
    return sum(e in held for e in evidence) / len(evidence)


def mem0_cost(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Seconds (p50 / p95), LLM calls and tokens of the Mem0 adds in ``rows`` (its progress lines)."""
    return {
        "turn_p50_s": percentile([r["s"] for r in rows], 50),
        "turn_p95_s": percentile([r["s"] for r in rows], 95),
        "llm_calls": sum(r["llm_calls"] for r in rows),
        "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
        "completion_tokens": sum(r["completion_tokens"] for r in rows),
    }


def summarize(pred_path: Path, systems: list[str], conversations: list[str], base: str | None = None) -> dict[str, Any]:
    rows = [json.loads(line) for line in pred_path.read_text().splitlines()]
    rows = [r for r in rows if r["system"] in systems and r["conversation"] in conversations]
    by: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[(r["system"], r["category"])].append(r)
        by[(r["system"], "all")].append(r)
    table: dict[str, Any] = {}
    for (system, cat), rs in sorted(by.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        entry = {
            "n": len(rs),
            "f1": 100 * statistics.fmean(r["f1"] for r in rs),
            "bleu1": 100 * statistics.fmean(r["bleu1"] for r in rs),
            "em": 100 * statistics.fmean(r["em"] for r in rs),
            "latency_p50_s": percentile([r["latency_s"] for r in rs], 50),
            "latency_p95_s": percentile([r["latency_s"] for r in rs], 95),
            "prompt_tokens_mean": statistics.fmean(r["prompt_tokens"] for r in rs),
        }
        if all("judge" in r for r in rs):
            entry["judge"] = 100 * statistics.fmean(r["judge"] for r in rs)
        recalls = [r["evidence_recall"] for r in rs if r.get("evidence_recall") is not None]
        if recalls:  # rows that record their context: the share of evidence turns in it, and the share complete
            entry["evidence_recall"] = statistics.fmean(recalls)
            entry["evidence_complete"] = statistics.fmean(x == 1.0 for x in recalls)
        table.setdefault(system, {})[str(cat)] = entry
    return {
        "conversations": conversations,
        "systems": systems,
        "scores": table,
        "paired": paired(rows, systems, base),
        "category_names": {"locomo": CATEGORY_LOCOMO, "mem0_memory_r1_tables": CATEGORY_MEM0},
    }


def paired(rows: list[dict[str, Any]], systems: list[str], base: str | None = None) -> dict[str, Any]:
    """F1 of every other edgemem variant (shipped, trained, streaming) and of the peer (Mem0) against
    the untrained pipeline (``base`` None: ``untrained`` where the run has it, else ``edgemem``) on the
    questions both answered: difference, 95 % bootstrap interval, questions better / worse. With another
    ``base`` (e.g. ``rag``), every other system is paired with it."""
    f1s: dict[str, dict[tuple[str, int], float]] = defaultdict(dict)
    for r in rows:
        f1s[r["system"]][(r["conversation"], r["qid"])] = r["f1"]
    if base is None:
        base = "untrained" if "untrained" in f1s else "edgemem"
    out = {}
    for system in systems:
        variant = system.startswith((*MEMORY_SYSTEMS, "mem0"))
        if system == base or base not in f1s or (base in MEMORY_SYSTEMS and not variant):
            continue
        both = sorted(set(f1s[system]) & set(f1s[base]))
        if both:
            out[f"{system} vs {base}"] = paired_delta([f1s[system][k] for k in both], [f1s[base][k] for k in both])
    return out


def markdown(s: dict[str, Any]) -> str:
    cats = ["1", "2", "3", "4"]
    head = " | ".join(f"cat {c} {CATEGORY_LOCOMO[int(c)]} ({CATEGORY_MEM0[int(c)]})" for c in cats)
    # the local judge's column appears only when a run was judged (--judge)
    judged = any("judge" in t.get("all", {}) for t in s["scores"].values())
    recalled = any("evidence_recall" in t.get("all", {}) for t in s["scores"].values())
    lines = [
        f"LoCoMo {', '.join(s['conversations'])}: F1 / BLEU-1 per category (LoCoMo name, Mem0/Memory-R1 table name)",
        "",
        f"| system | n | overall F1 | overall BLEU-1 | {head} | answer p50 s |"
        + (" judge % (local) |" if judged else "")
        + (" evidence in context % |" if recalled else ""),
        "|---" * (5 + len(cats) + judged + recalled) + "|",
    ]
    for system in s["systems"]:
        t = s["scores"].get(system)
        if not t:
            continue
        a = t["all"]
        cells = [f"{t[c]['f1']:.1f} / {t[c]['bleu1']:.1f}" if c in t else "-" for c in cats]
        lines.append(
            f"| {system} | {a['n']} | {a['f1']:.1f} | {a['bleu1']:.1f} | "
            + " | ".join(cells)
            + f" | {a['latency_p50_s']:.2f} |"
            + ((f" {a['judge']:.1f} |" if "judge" in a else " - |") if judged else "")
            + ((f" {100 * a['evidence_recall']:.0f} |" if "evidence_recall" in a else " - |") if recalled else "")
        )
    for name, p in s.get("paired", {}).items():
        lines.append(
            f"\n{name}: F1 {p['delta']:+.1f} (95 % bootstrap interval {p['ci95_low']:+.1f} to {p['ci95_high']:+.1f}; "
            f"{p['better']} better, {p['worse']} worse of {p['n']} questions)"
        )
    return "\n".join(lines) + "\n"


def plots(s: dict[str, Any], out: Path) -> None:
    plt = pyplot()
    if plt is None:
        return
    systems = [x for x in s["systems"] if x in s["scores"]]
    series = {x: [s["scores"][x].get(c, {}).get("f1", 0) for c in ("1", "2", "3", "4", "all")] for x in systems}
    labels = [f"{c}\n{CATEGORY_LOCOMO[int(c)]}" for c in "1234"] + ["all"]
    title = f"LoCoMo {', '.join(s['conversations'])}: F1 per category"
    grouped_bars(plt, out / "f1_per_category.png", labels, series, title)
    fig, ax = plt.subplots(figsize=(5, 4))
    for system in systems:
        a = s["scores"][system]["all"]
        ax.scatter(a["latency_p50_s"], a["f1"], s=60)
        ax.annotate(system, (a["latency_p50_s"], a["f1"]), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("answer latency p50 (s)")
    ax.set_ylabel("overall F1")
    ax.set_title("accuracy vs latency")
    fig.tight_layout()
    fig.savefig(out / "f1_vs_latency.png", dpi=120)
    plt.close(fig)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="a file in the standard LoCoMo format (default $EDGEMEM_LOCOMO, else ../shared/data/locomo/locomo_dev.json)",
    )
    p.add_argument("--conversations", default="conv-30", help="comma list of sample ids")
    p.add_argument(
        "--systems", default="none,rag,rag-hybrid,full,edgemem,trained", help=f"comma list of {', '.join(SYSTEMS)}"
    )
    p.add_argument("--model", default="qwen2.5-coder-0.5b", help="registry name or .gguf path (all systems use it)")
    p.add_argument("--manifest", default=None, help="export manifest of trained agents (system 'trained')")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n-ctx", type=int, default=8192)
    p.add_argument(
        "--protocol",
        choices=("batch", "streaming", "both"),
        default="batch",
        help="memory systems: answer after ingesting everything (batch), as each question's evidence "
        "sessions are ingested (streaming), or both",
    )
    p.add_argument("--rag-k", type=int, default=10)
    # the edgemem system's defaults are the runtime's (MemoryConfig); Memory-R1's: --answer-format cited
    # --answer-k 30 --answer-turns-k 0 --search dense
    defaults = MemoryConfig()
    p.add_argument(
        "--answer-format",
        choices=ANSWER_FORMATS,
        default=defaults.answer_format,
        help="edgemem: plain (a short answer from turns, then memories) or cited (Memory-R1: JSON with the numbers "
        "of the memories that answer; the trained answer adapter's format)",
    )
    p.add_argument(
        "--answer-k", type=int, default=defaults.answer_k, help="edgemem: memories per speaker (Memory-R1: 30)"
    )
    p.add_argument(
        "--answer-turns-k",
        type=int,
        default=defaults.answer_turns_k,
        help="edgemem: raw turns shown next to the memories",
    )
    p.add_argument(
        "--search",
        choices=("hybrid", "dense"),
        default=defaults.search,
        help="edgemem: how the answer agent finds memories and turns (hybrid: vectors + keywords fused; dense: vectors)",
    )
    p.add_argument(
        "--answer-context",
        choices=("per-speaker", "budget"),
        default=defaults.answer_context,
        help="edgemem: per-speaker (--answer-k memories per speaker + --answer-turns-k turns, Memory-R1) or budget "
        "(facts and turns ranked together, cut at --answer-budget tokens, in dialogue order)",
    )
    p.add_argument(
        "--answer-budget",
        type=int,
        default=defaults.answer_budget_tokens,
        help="edgemem: tokens of the budgeted context",
    )
    config_flag(
        p,
        "resolve_dates",
        "edgemem: resolve relative time in facts against the message's date when stored (a new bank)",
    )
    config_flag(
        p,
        "manager_only_when_related",
        "edgemem: facts with no related memory are ADDed without a manager call (a new bank)",
    )
    add_manager_flags(p)
    config_flag(
        p, "admission_gate", "edgemem: short messages with no first-person word skip fact extraction (a new bank)"
    )
    add_abstain_flag(p)
    p.add_argument(
        "--extract-batch",
        type=int,
        default=defaults.extract_batch,
        help="edgemem: queued messages of a session whose facts are extracted in one model call (a new bank)",
    )
    p.add_argument(
        "--banks",
        type=Path,
        default=None,
        help="cache of ingested banks (default <out>/banks); banks depend only on model and manager settings",
    )
    p.add_argument("--max-sessions", type=int, default=None, help="only the first N sessions of each conversation")
    p.add_argument("--max-questions", type=int, default=None, help="only the first N questions of each conversation")
    p.add_argument("--judge", default=None, help="a local GGUF (registry name or path) as LLM judge")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for everything written (default benchmarks/results/accuracy-<time>)",
    )
    p.add_argument(
        "--plots-from",
        type=Path,
        default=None,
        metavar="RUN",
        help="only draw the plots of a finished run from its summary.json (into RUN, or --out); no model loads",
    )
    return p


def replot(run: Path, out: Path | None = None) -> dict[str, Any]:
    """The plots of a finished run, drawn again from its ``summary.json`` (plots are not committed)."""
    path = run / "summary.json"
    if not path.exists():
        raise SystemExit(f"Error: {path} does not exist. Fix: pass a folder written by benchmarks.locomo.")
    summary = json.loads(path.read_text())
    target = out or run
    target.mkdir(parents=True, exist_ok=True)
    plots(summary, target)
    print(f"plots written to {target}")
    return summary


def config_flag(p: argparse.ArgumentParser, field: str, help: str) -> None:
    """``--<field> / --no-<field>`` for an on/off ``MemoryConfig`` field, defaulting to the runtime's value."""
    p.add_argument(
        "--" + field.replace("_", "-"),
        action=argparse.BooleanOptionalAction,
        default=getattr(MemoryConfig(), field),
        help=help,
    )


def add_manager_flags(p: argparse.ArgumentParser) -> None:
    """The manager's bank settings both harnesses take (each builds a bank of its own)."""
    config_flag(
        p,
        "manager_keep_shifted_facts",
        "edgemem: a fact left out by a shifted operation list is ADDed as extracted (a new bank)",
    )
    config_flag(
        p,
        "manager_add_by_number",
        "edgemem: the manager's ADD stores its fact as written, with no text generated (a new bank)",
    )
    config_flag(
        p,
        "manager_lines",
        "edgemem: the manager replies in lines, one per fact ('ADD', 'UPDATE 0 text', ...), not JSON (a new bank)",
    )


def add_abstain_flag(p: argparse.ArgumentParser) -> None:
    """``--abstain-unmentioned / --no-abstain-unmentioned``, shared with the LongMemEval harness."""
    config_flag(
        p,
        "abstain_unmentioned",
        'edgemem: answer "Not mentioned" without a model call when a word the question is about is in no stored text',
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = make_parser().parse_args(argv)
    if args.plots_from is not None:
        return replot(args.plots_from, args.out)
    args.out = (
        args.out or Path(__file__).resolve().parent / "results" / f"accuracy-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    )
    try:
        return run(args)
    except KeyboardInterrupt:
        raise SystemExit(
            f"\nInterrupted: finished answers are kept in {args.out / 'predictions.jsonl'}; run the same command to continue."
        ) from None


if __name__ == "__main__":
    main()
