"""Latency and memory of the edgemem runtime on this machine, written as JSON under benchmarks/results/.

    python -m benchmarks.latency                       # default model, 2 threads, everything
    python -m benchmarks.latency --threads 1 --sizes 1000,10000 --sessions 1

What it measures, side by side in one run (these machines are shared and noisy: ratios, not
absolute numbers, are what to compare across runs):

1. decode tok/s through edgemem vs raw llama-cpp-python on the same prompt (alternating, medians);
   also constrained (JSON-schema) decoding, which ingest and answer use;
2. per-turn ingest over the demo conversation and over the first sessions of LoCoMo conv-30:
   p50/p95, LLM calls and tokens per turn;
3. answer latency over the demo questions and conv-30 questions on the ingested sessions, in the
   default format and, on the same banks, in the cited one;
   and LLM calls / tokens / seconds per turn against a Mem0-v1-style pipeline (extraction plus one
   update call per fact) on the same model and turns;
3b. writes that never block: ``add()`` latency with the model loaded and the consolidator busy, model
   time per consolidated message, and answer latency while consolidating against idle (same questions);
4. search at 1k/10k/100k stored items of one user, real text (benchmarks/search_scale.py: dense and
   hybrid, memories and turns, recall@10 against exact search);
5. resident memory with both agents ready vs the model alone (separate processes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.search_scale import bench_search
from edgemem.machine import machine_info, percentile, rss_bytes

RESULTS = Path(__file__).resolve().parent / "results"
DECODE_PROMPT = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Write a long, detailed story about a lighthouse keeper and a storm."},
]
TARGETS = {
    "decode_ratio_min": 0.97,
    "ingest_p50_s": 1.0,
    "ingest_p95_s": 3.0,
    "answer_p50_s": 2.0,
    "answer_p95_s": 4.0,
    "search_p95_ms": 10.0,
    "add_p50_ms": 20.0,
    "add_p95_ms": 50.0,
    "consolidation_model_s_per_message": 1.0,
    "rss_ratio_max": 1.15,
}


def summary(values: list[float]) -> dict[str, float | None]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "mean": statistics.fmean(values) if values else None,
    }


# -- 1. decode ---------------------------------------------------------------------------------------


def bench_decode(model_path: Path, threads: int, tokens: int, reps: int) -> dict[str, Any]:
    import llama_cpp

    from edgemem import prompts
    from edgemem.engine import LlamaEngine, load_llama

    engine = LlamaEngine(model_path, n_ctx=2048, threads=threads)
    raw = load_llama(model_path, n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    raw_prompt = engine.tokenize_messages(DECODE_PROMPT)
    raw_tps, ours_tps, constrained_tps = [], [], []
    for _ in range(reps):  # alternate, so both see the same background load
        # Both sides are timed the same way: wall clock of the generation after the prompt is read
        # (llama.cpp's own perf counter gives the prompt-reading time of the raw call).
        raw.reset()
        llama_cpp.llama_perf_context_reset(raw._ctx.ctx)
        t = time.perf_counter()
        out = raw.create_completion(raw_prompt, max_tokens=tokens, temperature=0.0, top_k=1, repeat_penalty=1.0)
        wall = time.perf_counter() - t
        perf = llama_cpp.llama_perf_context(raw._ctx.ctx)
        assert isinstance(out, dict)  # not streaming
        raw_tps.append(out["usage"]["completion_tokens"] / (wall - perf.t_p_eval_ms / 1000))
        engine.llama.reset()
        c = engine.complete(DECODE_PROMPT, max_tokens=tokens)
        ours_tps.append(c.completion_tokens / c.decode_s)
        engine.llama.reset()
        msgs = prompts.extraction_messages(
            "Sam", "I moved to Rome last week; my sister Ana, a chef, lives there too.", "1 May 2024"
        )
        c = engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=tokens)
        constrained_tps.append(c.completion_tokens / c.decode_s)
    raw.close()
    engine.close()
    raw_med, ours_med = statistics.median(raw_tps), statistics.median(ours_tps)
    return {
        "tokens": tokens,
        "raw_llama_cpp_tok_s": raw_med,
        "edgemem_tok_s": ours_med,
        "ratio": ours_med / raw_med,
        "edgemem_constrained_tok_s": statistics.median(constrained_tps),
        "constrained_ratio": statistics.median(constrained_tps) / raw_med,
        "samples": {"raw": raw_tps, "edgemem": ours_tps, "constrained": constrained_tps},
    }


# -- 2 + 3. ingest and answer ---------------------------------------------------------------------------


def bench_pipeline(model: str, threads: int, locomo: Path | None, sessions: int, questions: int) -> dict[str, Any]:
    from edgemem import Memory
    from edgemem.config import PRESETS
    from edgemem.demo import load_demo
    from edgemem.locomo import find_conversation, select

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        # answers are timed through the model: a question the rule answers "Not mentioned" would time nothing
        mem = Memory(Path(tmp) / "bench.db", user="bench", model=model, threads=threads, abstain_unmentioned=False)
        t = time.perf_counter()
        mem.engine  # noqa: B018 - load the model outside the timings
        out["cold_start_s"] = time.perf_counter() - t
        demo = load_demo()
        asked = {"demo": [q["question"] for q in demo.questions]}
        out["demo"] = _ingest_and_answer(mem, demo.turns, asked["demo"], user="demo")
        if locomo is not None and locomo.exists():
            conv = find_conversation(locomo, "conv-30")
            turns, qas = select(conv, sessions)
            asked["conv-30"] = [q.question for q in qas if q.evidence][:questions]
            out["locomo_conv30"] = _ingest_and_answer(mem, turns, asked["conv-30"], user="conv-30")
            out["locomo_conv30"]["sessions"] = conv.sessions[:sessions]
        out["answer_format"] = mem.config.answer_format
        # the same questions over the same banks in the cited format (Memory-R1's JSON), side by side, on
        # the engine already loaded
        cited = Memory(
            mem.path,
            user="bench",
            engine=mem.engine,
            embedder=mem.embedder,
            abstain_unmentioned=False,
            **PRESETS["cited"],
        )
        for user, key in (("demo", "demo"), ("conv-30", "locomo_conv30")):
            if user in asked:
                out[key]["cited"] = _answers(cited, asked[user], user)
        cited.close()
        mem.close()
    return out


def _ingest_and_answer(mem: Any, turns: list[Any], questions: list[str], user: str) -> dict[str, Any]:
    results = mem.ingest(turns, user=user).results
    n = max(len(results), 1)
    return {
        "turns": len(results),
        "ingest_s": summary([r.total_s for r in results]),
        "llm_calls_per_turn": sum(r.llm_calls for r in results) / n,
        "prompt_tokens_per_turn": sum(r.prompt_tokens for r in results) / n,
        "completion_tokens_per_turn": sum(r.completion_tokens for r in results) / n,
        "memories": mem.stats(user=user)["memories"],
        **_answers(mem, questions, user),
    }


def _answers(mem: Any, questions: list[str], user: str) -> dict[str, Any]:
    answers = [mem.answer(q, user=user) for q in questions]
    return {
        "questions": len(answers),
        "answer_s": summary([a.total_s for a in answers]),
        "answer_search_ms": summary([a.search_s * 1000 for a in answers]),
        "answer_prompt_tokens": summary([float(a.prompt_tokens) for a in answers]),
        "answer_completion_tokens": summary([float(a.completion_tokens) for a in answers]),
    }


# -- 3b. writes that never block ---------------------------------------------------------------------


def bench_writes(
    model: str,
    threads: int,
    locomo: Path | None,
    sessions: int,
    questions: int,
    gap_s: float,
    background_threads: int | None = None,
    extract_batch: int = 1,
    manager_lines: bool = False,
) -> dict[str, Any]:
    """The first half of the turns is consolidated before answering the questions idle; the second half
    is added without waiting, one every ``gap_s`` (a chat), and the same questions are answered while the
    consolidator works through it (its calls on ``background_threads``, None: ``threads``; the messages
    queued meanwhile extracted up to ``extract_batch`` per call; ``manager_lines``: the manager replies in
    lines, not JSON)."""
    from edgemem import Memory
    from edgemem.demo import load_demo
    from edgemem.locomo import find_conversation, select

    if locomo is not None and locomo.exists():
        turns, qas = select(find_conversation(locomo, "conv-30"), sessions)
        qs, source = [q.question for q in qas if q.evidence][:questions], f"conv-30 sessions 1-{sessions}"
    else:
        demo = load_demo()
        turns, qs, source = demo.turns, [q["question"] for q in demo.questions], "demo"
    half = len(turns) // 2
    with tempfile.TemporaryDirectory() as tmp:
        mem = Memory(
            Path(tmp) / "writes.db",
            user="bench",
            model=model,
            threads=threads,
            background_threads=background_threads,
            extract_batch=extract_batch,
            manager_lines=manager_lines,
            abstain_unmentioned=False,  # only half the turns are in: every answer must reach the model
        )
        mem.engine  # noqa: B018 - the model is loaded before anything is timed
        mem.ingest(turns[:half])
        idle = [mem.answer(q).total_s for q in qs]
        consolidated: list[Any] = []
        mem.consolidator.on_result = consolidated.append
        adds: list[float] = []
        busy_answers: list[float] = []
        for t in turns[half:]:
            start = time.perf_counter()
            mem.add(t.text, speaker=t.speaker, time=t.time, source=t.source, key=t.key)
            adds.append((time.perf_counter() - start) * 1000)
            time.sleep(gap_s)
        while mem.stats()["pending"] > 0 and len(busy_answers) < len(qs):
            busy_answers.append(mem.answer(qs[len(busy_answers)]).total_s)
        mem.flush()
        mem.close()
    calls = [c for r in consolidated for c in (r.extract_s, r.manage_s) if c > 0]
    return {
        "source": source,
        "background_threads": background_threads or threads,
        "extract_batch": extract_batch,
        "manager_lines": manager_lines,
        "turns_consolidated_first": half,
        "turns_added": len(adds),
        "gap_s": gap_s,
        "add_ms": summary(adds),
        "consolidation_model_s_per_message": summary([r.extract_s + r.manage_s for r in consolidated]),
        "consolidation_call_s": summary(calls),
        "llm_calls_per_message": sum(r.llm_calls for r in consolidated) / max(len(consolidated), 1),
        "answer_idle_s": summary(idle),
        "answer_while_consolidating_s": summary(busy_answers),
    }


# -- 2b. calls and tokens per turn vs a Mem0-v1-style pipeline ------------------------------------------


def mem0_v1_turn(mem: Any, user: str, turn: Any) -> dict[str, float]:
    """One turn the way Mem0 v1 spends LLM calls: extract facts, then one update call per fact, each
    shown that fact's own top-k memories. Same model, prompts, schemas and planner as edgemem's
    manager (which decides all of a turn's facts in one call), so only the call pattern differs.
    The operations are applied, so later turns see a bank grown the same way."""
    from edgemem import prompts
    from edgemem.errors import ModelOutputError
    from edgemem.manager import EXTRACT_MAX_TOKENS, MANAGE_MAX_TOKENS_PER_FACT
    from edgemem.parsing import ParsedOperations, parse_facts, parse_operations

    manager, t0 = mem.manager, time.perf_counter()
    calls, tokens_in, tokens_out = 1, 0, 0
    c = mem.engine.complete(
        manager.extraction_messages(turn, None),
        schema=prompts.EXTRACTION_SCHEMA,
        max_tokens=EXTRACT_MAX_TOKENS,
        prefix_key="extract",
    )
    tokens_in, tokens_out = c.prompt_tokens, c.completion_tokens
    try:
        facts = parse_facts(c.text)
    except ModelOutputError:
        facts = []
    vectors = mem.embedder.embed([turn.vector_text(), *facts])
    planned = []
    for i, fact in enumerate(facts):
        step = manager.step(user, turn, [fact], vectors[1 + i : 2 + i])
        c = mem.engine.complete(
            step.messages, schema=step.schema, max_tokens=MANAGE_MAX_TOKENS_PER_FACT + 16, prefix_key="manage"
        )
        calls, tokens_in, tokens_out = calls + 1, tokens_in + c.prompt_tokens, tokens_out + c.completion_tokens
        try:
            parsed = parse_operations(c.text, len(step.shown), [fact])
        except ModelOutputError:
            parsed = ParsedOperations()
        planned += manager.plan(step, parsed, vectors[1 + i : 2 + i])
    mem.store.apply_turn(user, turn, vectors[0], planned, facts)
    return {
        "llm_calls": calls,
        "prompt_tokens": tokens_in,
        "completion_tokens": tokens_out,
        "facts": len(facts),
        "s": time.perf_counter() - t0,
    }


def bench_calls(model: str, threads: int, locomo: Path, sessions: int) -> dict[str, Any]:
    """LLM calls, tokens and seconds per turn: edgemem vs the Mem0-v1 call pattern, same turns and
    model, alternating turn by turn (two banks) so both see the same machine load."""
    from edgemem import Memory
    from edgemem.engine import LlamaEngine
    from edgemem.locomo import find_conversation, kept_turns
    from edgemem.models import resolve_model

    conv = find_conversation(locomo, "conv-30")
    turns = kept_turns(conv, sessions)
    engine = LlamaEngine(resolve_model(model), n_ctx=4096, threads=threads)
    ours: list[dict[str, float]] = []
    theirs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        a = Memory(Path(tmp) / "edgemem.db", user="conv-30", engine=engine)
        b = Memory(Path(tmp) / "mem0v1.db", user="conv-30", engine=engine, embedder=a.embedder)
        for t in turns:
            r = a.add(t.text, speaker=t.speaker, time=t.time, source=t.source, key=t.key)
            ours.append(
                {
                    "llm_calls": r.llm_calls,
                    "prompt_tokens": r.prompt_tokens,
                    "completion_tokens": r.completion_tokens,
                    "facts": len(r.facts),
                    "s": r.total_s,
                }
            )
            theirs.append(mem0_v1_turn(b, "conv-30", t))
        a.close()
        b.close()
    engine.close()

    def per_turn(rows: list[dict[str, float]]) -> dict[str, Any]:
        return {
            **{
                k: statistics.fmean(r[k] for r in rows)
                for k in ("llm_calls", "prompt_tokens", "completion_tokens", "facts")
            },
            "s": summary([r["s"] for r in rows]),
        }

    out: dict[str, Any] = {
        "turns": len(turns),
        "sessions": conv.sessions[:sessions],
        "edgemem": per_turn(ours),
        "mem0_v1_style": per_turn(theirs),
    }
    out["ratio_calls"] = out["mem0_v1_style"]["llm_calls"] / out["edgemem"]["llm_calls"]
    out["ratio_prompt_tokens"] = out["mem0_v1_style"]["prompt_tokens"] / out["edgemem"]["prompt_tokens"]
    out["ratio_s_p50"] = (out["mem0_v1_style"]["s"]["p50"] or 0) / (out["edgemem"]["s"]["p50"] or 1)
    return out


# -- 4. search ------------------------------------------------------------------------------------------


# -- 5. RSS, each in its own process ------------------------------------------------------------------


def _rss_child(kind: str, model: str, threads: int) -> dict[str, int]:
    if kind == "model_alone":
        from edgemem.engine import load_llama
        from edgemem.models import resolve_model

        llm = load_llama(resolve_model(model), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
        llm.create_chat_completion(DECODE_PROMPT, max_tokens=16)
    else:
        from edgemem import Memory

        with tempfile.TemporaryDirectory() as tmp:
            mem = Memory(Path(tmp) / "m.db", model=model, threads=threads)
            mem.add("I moved to Lisbon last week and adopted a puppy.", speaker="Maya", time="1 May 2025")
            mem.answer("Where does Maya live?")
            return rss_bytes()
    return rss_bytes()


def bench_rss(model: str, threads: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind in ("model_alone", "edgemem_both_agents"):
        code = f"import json, benchmarks.latency as b; print(json.dumps(b._rss_child({kind!r}, {model!r}, {threads})))"
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    out["ratio"] = out["edgemem_both_agents"]["peak_rss"] / out["model_alone"]["peak_rss"]
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default="qwen2.5-coder-0.5b", help="registry name or .gguf path")
    p.add_argument("--threads", type=int, default=2, help="llama.cpp threads (recorded in the result)")
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="LoCoMo JSON, conv-30 is used (default $EDGEMEM_LOCOMO, else ../shared/data/locomo/locomo_dev.json)",
    )
    p.add_argument("--sessions", type=int, default=2, help="first N sessions of conv-30 to ingest")
    p.add_argument("--questions", type=int, default=20, help="conv-30 questions to answer (evidence in those sessions)")
    p.add_argument(
        "--calls-sessions", type=int, default=1, help="conv-30 sessions for the calls/tokens comparison with Mem0 v1"
    )
    p.add_argument(
        "--writes-sessions", type=int, default=1, help="conv-30 sessions for the non-blocking writes section"
    )
    p.add_argument("--add-gap", type=float, default=0.5, help="seconds between messages added without waiting")
    p.add_argument(
        "--writes-background-threads",
        type=int,
        default=None,
        help="also run the writes section with the consolidator on this many threads (result: writes_background)",
    )
    p.add_argument(
        "--writes-extract-batch",
        type=int,
        default=None,
        help="also run the writes section with queued messages extracted up to N per call (result: writes_batched)",
    )
    p.add_argument(
        "--writes-manager-lines",
        action="store_true",
        help="also run the writes section with the manager replying in lines (manager_lines; result: writes_lines)",
    )
    p.add_argument("--sizes", default="1000,10000,100000", help="store sizes for the search benchmark")
    p.add_argument("--search-data", type=Path, default=None, help="LongMemEval file whose sentences fill the store")
    p.add_argument("--search-cache", type=Path, default=None, help="keep the search corpus vectors here (.npz)")
    p.add_argument("--decode-tokens", type=int, default=128)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--skip", default="", help="comma list of sections to skip: decode,pipeline,calls,writes,search,rss")
    p.add_argument(
        "--out", type=Path, default=None, help="result file (default benchmarks/results/latency-<model>-<time>.json)"
    )
    args = p.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))

    from edgemem.locomo import locomo_path, require_locomo
    from edgemem.models import resolve_model, sha256_file

    model_path = resolve_model(args.model)
    result: dict[str, Any] = {
        "benchmark": "latency",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "model": {
            "name": args.model,
            "file": model_path.name,
            "sha256": sha256_file(model_path),
            "bytes": model_path.stat().st_size,
        },
        "threads": args.threads,
        "targets": TARGETS,
    }

    def writes(**variant: Any) -> dict[str, Any]:
        """The writes section, with the settings of a variant (its own result section) on top."""
        return bench_writes(
            args.model,
            args.threads,
            locomo_path(args.data),
            args.writes_sessions,
            args.questions,
            args.add_gap,
            **variant,
        )

    steps = [
        ("decode", lambda: bench_decode(model_path, args.threads, args.decode_tokens, args.reps)),
        (
            "pipeline",
            lambda: bench_pipeline(args.model, args.threads, locomo_path(args.data), args.sessions, args.questions),
        ),
        ("calls", lambda: bench_calls(args.model, args.threads, require_locomo(args.data), args.calls_sessions)),
        ("writes", lambda: writes()),
        ("writes_background", lambda: writes(background_threads=args.writes_background_threads)),
        ("writes_batched", lambda: writes(extract_batch=args.writes_extract_batch or 1)),
        ("writes_lines", lambda: writes(manager_lines=True)),
        (
            "search",
            lambda: bench_search([int(s) for s in args.sizes.split(",") if s], args.search_data, args.search_cache),
        ),
        ("rss", lambda: bench_rss(args.model, args.threads)),
    ]
    # Decoding reads every weight once per token: memory bandwidth / model size bounds tok/s.
    ceiling = result["machine"]["memory_bandwidth_gbs"] * 1e9 / model_path.stat().st_size
    result["decode_ceiling_tok_s"] = ceiling
    if args.writes_background_threads is None:
        skip.add("writes_background")
    if args.writes_extract_batch is None:
        skip.add("writes_batched")
    if not args.writes_manager_lines:
        skip.add("writes_lines")
    for name, fn in steps:
        if name in skip:
            continue
        t = time.perf_counter()
        print(f"[{name}] running...", file=sys.stderr, flush=True)
        result[name] = fn()
        print(f"[{name}] done in {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    out = (
        args.out or RESULTS / f"latency-{args.model.replace('/', '_')}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(report(result))
    print(f"\nwritten: {out}")
    return result


def report(r: dict[str, Any]) -> str:
    t = r["targets"]
    lines = [f"model {r['model']['name']}, {r['threads']} thread(s), {r['machine']['cpu']}"]

    def row(name: str, value: float | None, target: str, ok: bool | None) -> None:
        mark = "" if ok is None else ("  ok" if ok else "  MISSED")
        lines.append(f"  {name:<44} {value if value is None else round(value, 3)!s:>10}   target {target}{mark}")

    if "decode" in r:
        d = r["decode"]
        row("decode tok/s raw llama-cpp-python", d["raw_llama_cpp_tok_s"], "-", None)
        row(
            "decode tok/s through edgemem (ratio)",
            d["ratio"],
            f">= {t['decode_ratio_min']}",
            d["ratio"] >= t["decode_ratio_min"],
        )
        row("constrained JSON decode (ratio to raw)", d["constrained_ratio"], "-", None)
        row(
            "decode as a fraction of the bandwidth ceiling",
            d["edgemem_tok_s"] / r["decode_ceiling_tok_s"],
            f"ceiling {r['decode_ceiling_tok_s']:.0f} tok/s",
            None,
        )
    for key in ("demo", "locomo_conv30"):
        s = r.get("pipeline", {}).get(key)
        if not s:
            continue
        row(
            f"{key}: ingest p50 s/turn",
            s["ingest_s"]["p50"],
            f"<= {t['ingest_p50_s']}",
            s["ingest_s"]["p50"] <= t["ingest_p50_s"],
        )
        row(
            f"{key}: ingest p95 s/turn",
            s["ingest_s"]["p95"],
            f"<= {t['ingest_p95_s']}",
            s["ingest_s"]["p95"] <= t["ingest_p95_s"],
        )
        row(
            f"{key}: LLM calls / tokens per turn",
            s["llm_calls_per_turn"],
            f"{s['prompt_tokens_per_turn']:.0f} in, {s['completion_tokens_per_turn']:.0f} out",
            None,
        )
        for name, a in ((f"{key}: answer", s), (f"{key}: cited answer", s.get("cited"))):
            if not a or not a["questions"]:
                continue
            for q in ("p50", "p95"):
                row(
                    f"{name} {q} s",
                    a["answer_s"][q],
                    f"<= {t[f'answer_{q}_s']}",
                    a["answer_s"][q] <= t[f"answer_{q}_s"],
                )
    if "calls" in r:
        c = r["calls"]
        for name, v in (("edgemem", c["edgemem"]), ("Mem0-v1 style", c["mem0_v1_style"])):
            row(
                f"{name}: LLM calls / tokens per turn",
                v["llm_calls"],
                f"{v['prompt_tokens']:.0f} in, {v['completion_tokens']:.0f} out, p50 {v['s']['p50']:.2f} s",
                None,
            )
        row("Mem0-v1 style / edgemem: prompt tokens", c["ratio_prompt_tokens"], "-", None)
    for section in ("writes", "writes_background", "writes_batched", "writes_lines"):
        if section not in r:
            continue
        w = r[section]
        if section == "writes_background":
            lines.append(f"consolidator on {w['background_threads']} thread(s):")
        if section == "writes_batched":
            lines.append(f"queued messages extracted up to {w['extract_batch']} per call:")
        if section == "writes_lines":
            lines.append("the manager replying in lines (manager_lines):")
        row(
            "add() p50 ms, consolidator busy",
            w["add_ms"]["p50"],
            f"<= {t['add_p50_ms']}",
            w["add_ms"]["p50"] <= t["add_p50_ms"],
        )
        row(
            "add() p95 ms, consolidator busy",
            w["add_ms"]["p95"],
            f"<= {t['add_p95_ms']}",
            w["add_ms"]["p95"] <= t["add_p95_ms"],
        )
        # the mean: a batch's extraction call is counted on its first message, so a median would hide it
        per = w["consolidation_model_s_per_message"]["mean"]
        limit = t["consolidation_model_s_per_message"]
        row("consolidation model s per message (mean)", per, f"<= {limit}", per is not None and per <= limit)
        idle, busy = w["answer_idle_s"]["p95"], w["answer_while_consolidating_s"]["p95"]
        call = w["consolidation_call_s"]["p95"]
        bound = None if idle is None or call is None else idle + call
        row(
            "answer p95 s while consolidating",
            busy,
            f"<= idle p95 + one call = {bound if bound is None else round(bound, 2)}",
            None if busy is None or bound is None else busy <= bound,
        )
    for s in r.get("search", [])[1:]:  # the first entry describes the corpus
        for part in ("dense_memories", "dense_turns", "hybrid_memories", "hybrid_turns"):
            p95 = s[f"{part}_ms"]["p95"]
            ok = p95 <= t["search_p95_ms"]
            row(f"{part.replace('_', ' ')} search p95 ms at {s['items']} items", p95, f"<= {t['search_p95_ms']}", ok)
        row(f"dense recall@10 at {s['items']} items", s["dense_recall_at_10"], "-", None)
    if "rss" in r:
        row(
            "peak RSS both agents / model alone",
            r["rss"]["ratio"],
            f"<= {t['rss_ratio_max']}",
            r["rss"]["ratio"] <= t["rss_ratio_max"],
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
