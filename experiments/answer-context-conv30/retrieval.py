"""What each answer-context setting shows the answer agent on a built conv-30 bank: the share of LoCoMo's
evidence turns it holds and its prompt tokens. No model call (the model's tokenizer is loaded vocab-only).
``--turn-text``: what each raw turn's vector embeds, on a copy of the bank: its text as ``add()`` embeds
it today (``text``), or with its speaker (``speaker``: "Gina: ...") or its time and speaker
(``time-speaker``: "[date] Gina: ...", the line rag and rag-hybrid embed).

    PYTHONPATH=. python experiments/answer-context-conv30/retrieval.py --bank runs/banks/conv-30-....db \
        [--turn-text speaker] > experiments/answer-context-conv30/retrieval[-speaker].json
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.locomo import context_keys, evidence_recall
from edgemem.answer import AnswerAgent
from edgemem.config import MemoryConfig
from edgemem.db import connect, encode
from edgemem.embedder import Embedder
from edgemem.engine import load_llama
from edgemem.locomo import find_conversation, select
from edgemem.models import resolve_model
from edgemem.store import Store

# (answer_k per speaker, answer_turns_k) with per-speaker groups, then budgeted contexts (tokens estimated
# at ~4 characters); (5, 5) is the default, (0, 10) is rag-hybrid's ten turns in the agent's prompt
GRID: list[dict[str, Any]] = [
    *({"answer_k": k, "answer_turns_k": t} for k, t in [(5, 5), (0, 10), (2, 8), (3, 10), (5, 10), (3, 5), (10, 5)]),
    *({"answer_context": "budget", "answer_budget_tokens": b} for b in (400, 600, 800, 1000)),
]


class Tokens:
    """The engine's two members ``AnswerAgent.step`` uses: the window and the model's token count."""

    def __init__(self, model: str, n_ctx: int) -> None:
        self.llama = load_llama(resolve_model(model), vocab_only=True, verbose=False)
        self.n_ctx = n_ctx

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def reembed_turns(db: Path, embedder: Embedder, how: str) -> None:
    """Replace every turn vector of the copy by the embedding of the turn's line as ``how`` writes it. (SQL
    outside the store: a throwaway copy, before any Store opens it and loads its vector index.)"""
    conn = connect(str(db))
    rows = conn.execute("SELECT id, speaker, text, time FROM turns ORDER BY id").fetchall()
    lines = [f"[{t}] {sp}: {x}" if how == "time-speaker" and t else f"{sp}: {x}" for _, sp, x, t in rows]
    vectors = embedder.embed(lines)
    with conn:
        for (turn_id, *_), v in zip(rows, vectors, strict=True):
            conn.execute("UPDATE turn_vectors SET embedding = ? WHERE turn_id = ?", (encode(v), turn_id))
    conn.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--bank", type=Path, required=True)
    p.add_argument("--data", default="../shared/data/locomo/locomo_dev.json")
    p.add_argument("--model", default="qwen2.5-coder-0.5b")
    p.add_argument("--turn-text", choices=("text", "speaker", "time-speaker"), default="text")
    args = p.parse_args()
    _, qas = select(find_conversation(Path(args.data), "conv-30"))
    tokens, embedder = Tokens(args.model, 8192), Embedder(threads=1)
    out: dict[str, Any] = {"bank": args.bank.name, "turn_text": args.turn_text, "questions": len(qas), "settings": []}
    with tempfile.TemporaryDirectory() as tmp:  # a copy: nothing here may touch the cached bank
        db = Path(tmp) / "bank.db"
        shutil.copy(args.bank, db)
        if args.turn_text != "text":
            reembed_turns(db, embedder, args.turn_text)
        store = Store(str(db))
        for setting in GRID:
            agent = AnswerAgent(tokens, embedder, store, MemoryConfig(search="hybrid", **setting))  # type: ignore[arg-type]
            recalls, complete, counts = [], [], []
            for qa in qas:
                step = agent.step(qa.question, agent.retrieve("conv-30", qa.question))
                counts.append(tokens.count_tokens(step.messages[-1]["content"]))
                r = evidence_recall(qa.evidence, context_keys(store, step.context))
                if r is not None:
                    recalls.append(r)
                    complete.append(r == 1.0)
            out["settings"].append(
                {
                    **setting,
                    "evidence_recall": round(statistics.fmean(recalls), 3),
                    "evidence_complete": round(statistics.fmean(complete), 3),
                    "prompt_tokens_p50": statistics.median(counts),
                }
            )
        store.close()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
