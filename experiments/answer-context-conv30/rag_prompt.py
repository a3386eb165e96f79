"""rag-hybrid's prompt over edgemem's answer context: is the gap to plain retrieval in the prompt?

The context is one the answer agent would read (by default the cited format's: 5 memories per speaker + 5
raw turns, hybrid search; --answer-k / --answer-turns-k / --budget choose another), each line "[date] text" (a
turn with its speaker), in the agent's order or, with --turns-first, the raw turns before the facts; the
prompt, decoding (32 tokens, plain text, first line kept) and scoring are rag-hybrid's (benchmarks.locomo).
On a copy of the bank: nothing here touches the cached file.

    PYTHONPATH=. python experiments/answer-context-conv30/rag_prompt.py --bank runs/banks/conv-30-....db \
        --out benchmarks/results/answer-context-conv30/rag-prompt
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.locomo import context_keys, evidence_recall
from benchmarks.scoring import score
from edgemem.answer import AnswerAgent
from edgemem.config import MemoryConfig
from edgemem.embedder import Embedder
from edgemem.engine import LlamaEngine
from edgemem.locomo import find_conversation, select
from edgemem.machine import machine_info
from edgemem.models import resolve_model
from edgemem.prompts import first_line, plain_answer_messages
from edgemem.store import Store


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bank", type=Path, required=True)
    p.add_argument("--data", default="../shared/data/locomo/locomo_dev.json")
    p.add_argument("--model", default="qwen2.5-coder-0.5b")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--answer-k", type=int, default=5, help="memories per speaker")
    p.add_argument("--answer-turns-k", type=int, default=5, help="raw turns")
    p.add_argument("--budget", type=int, default=0, help="budgeted context of this many tokens instead")
    p.add_argument("--turns-first", action="store_true", help="raw turns before facts in the prompt")
    args = p.parse_args()
    # the cited format's context order (turns after the memories), as the runs were made before the plain
    # format existed; --turns-first gives the plain format's order
    config = MemoryConfig(answer_format="cited", answer_k=args.answer_k, answer_turns_k=args.answer_turns_k)
    if args.budget:
        config = MemoryConfig(answer_format="cited", answer_context="budget", answer_budget_tokens=args.budget)
    _, qas = select(find_conversation(Path(args.data), "conv-30"))
    engine = LlamaEngine(resolve_model(args.model), n_ctx=8192, threads=args.threads)
    embedder = Embedder(threads=1)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bank.db"
        shutil.copy(args.bank, db)
        store = Store(str(db))
        agent = AnswerAgent(engine, embedder, store, config)
        for i, qa in enumerate(qas):
            t0 = time.perf_counter()
            hits = agent.step(qa.question, agent.retrieve("conv-30", qa.question)).context
            if args.turns_first:
                hits = [h for h in hits if h.kind == "turn"] + [h for h in hits if h.kind != "turn"]
            lines = [f"[{h.time}] {AnswerAgent.line_text(h)}" if h.time else AnswerAgent.line_text(h) for h in hits]
            c = engine.complete(
                plain_answer_messages(qa.question, lines), max_tokens=32, prefix_key="baseline-rag-prompt"
            )
            keys = context_keys(store, hits)
            rows.append(
                {
                    "system": "rag-prompt",
                    "conversation": "conv-30",
                    "qid": i,
                    "question": qa.question,
                    "gold": qa.answer,
                    "category": qa.category,
                    "prediction": first_line(c.text),
                    **score(first_line(c.text), qa.answer),
                    "latency_s": time.perf_counter() - t0,
                    "prompt_tokens": c.prompt_tokens,
                    "context_keys": keys,
                    "evidence_recall": evidence_recall(qa.evidence, keys),
                }
            )
        store.close()
    (args.out / "predictions.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    summary = {
        "questions": len(rows),
        "context": {
            "answer_k": args.answer_k,
            "answer_turns_k": args.answer_turns_k,
            "budget_tokens": args.budget or None,
            "turns_first": args.turns_first,
            "bank": args.bank.parent.name,
        },
        "f1": round(100 * statistics.fmean(r["f1"] for r in rows), 1),
        "answer_p50_s": round(statistics.median(r["latency_s"] for r in rows), 2),
        "machine": machine_info(),
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "machine"}))


if __name__ == "__main__":
    main()
