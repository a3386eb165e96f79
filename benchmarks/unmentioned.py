"""How often the unmentioned-words rule (``edgemem/unmentioned.py``) answers "Not mentioned", and whether
it should have: on LongMemEval files (abstention questions vs answerable ones) and LoCoMo conversations.

    python -m benchmarks.unmentioned --longmemeval ../shared/data/longmemeval/oracle_dev.json \
        ../shared/data/longmemeval/s_dev_sample.json --locomo-conversations conv-26 conv-30 \
        --out benchmarks/results/unmentioned-rule.json

Each question's own history (a LongMemEval question's haystack, a LoCoMo conversation) is stored as raw
turns in a real store, and the rule looks the question's anchor words up in its keyword index, as
``Memory.answer`` does. No model is called; the rule's answer replaces the model's, so what it decides
here is what it decides in a run. The turns get zero vectors: the rule reads no vector, and a history
of 480 turns per question would otherwise be embedded for nothing. LoCoMo has no abstention questions in
LongMemEval's sense; its category 5 (adversarial, not scored) is counted on its own.
"""

from __future__ import annotations

import argparse
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import print_result
from edgemem.conversation import Turn
from edgemem.locomo import find_conversation, locomo_path
from edgemem.migrations import EMBEDDING_DIM
from edgemem.store import Store
from edgemem.unmentioned import unmentioned


def tally(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """rows: {"abstention", "unmentioned", ...} per question -> counts, shares and the refused answerable."""
    abst = [r for r in rows if r["abstention"]]
    answerable = [r for r in rows if not r["abstention"]]
    caught = sum(bool(r["unmentioned"]) for r in abst)
    refused = [r for r in answerable if r["unmentioned"]]
    return {
        "questions": len(rows),
        "abstention": len(abst),
        "abstention_caught": caught,
        "abstention_caught_share": round(caught / len(abst), 4) if abst else None,
        "answerable": len(answerable),
        "answerable_refused": len(refused),
        "answerable_refused_share": round(len(refused) / len(answerable), 4) if answerable else None,
        "precision": round(caught / (caught + len(refused)), 4) if caught + len(refused) else None,
    }


def check(store: Store, user: str, turns: list[Turn], questions: list[tuple[str, str, bool, str]]) -> list[dict]:
    """Store ``turns`` for ``user``, then the rule's verdict per (id, question, abstention, type)."""
    turns = list({(t.source, t.key): t for t in reversed(turns)}.values())[::-1]  # a repeated key once, as ingest
    store.store_turns(user, turns, np.zeros((len(turns), EMBEDDING_DIM), dtype=np.float32))
    return [
        {"id": i, "type": t, "abstention": a, "question": q, "unmentioned": unmentioned(store, user, q)}
        for i, q, a, t in questions
    ]


def longmemeval(store: Store, path: Path) -> dict[str, Any]:
    from benchmarks.longmemeval import load

    rows = []
    for q in load(path):
        rows += check(store, f"{path.stem}/{q.id}", q.turns(), [(q.id, q.question, q.abstention, q.type)])
    return summarize(rows)


def locomo(store: Store, data: Path, conversation: str) -> dict[str, Any]:
    conv = find_conversation(data, conversation)
    rows = check(
        store,
        conversation,
        conv.turns,
        [(f"{conversation}/{n}", q.question, q.category == 5, str(q.category)) for n, q in enumerate(conv.qa)],
    )
    for r in rows:  # LoCoMo's category 5 is adversarial, not an abstention question in LongMemEval's sense
        r["category_5"] = r.pop("abstention")
    answerable = [{**r, "abstention": False} for r in rows if not r["category_5"]]
    adversarial = [{**r, "abstention": True} for r in rows if r["category_5"]]
    out = tally(answerable)
    out["category_5"] = len(adversarial)
    out["category_5_refused"] = sum(bool(r["unmentioned"]) for r in adversarial)
    out["refused"] = [f"[{r['type']}] {r['question']} -> {r['unmentioned']}" for r in answerable if r["unmentioned"]]
    out["flagged"] = flagged(rows)
    del out["abstention"], out["abstention_caught"], out["abstention_caught_share"], out["precision"]
    return out


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = tally(rows)
    out["by_type"] = {t: tally([r for r in rows if r["type"] == t]) for t in sorted(Counter(r["type"] for r in rows))}
    out["caught"] = [
        f"{r['id']}: {r['question']} -> {r['unmentioned']}" for r in rows if r["abstention"] and r["unmentioned"]
    ]
    out["missed"] = [f"{r['id']}: {r['question']}" for r in rows if r["abstention"] and not r["unmentioned"]]
    out["refused"] = [
        f"{r['id']} [{r['type']}]: {r['question']} -> {r['unmentioned']}"
        for r in rows
        if not r["abstention"] and r["unmentioned"]
    ]
    out["flagged"] = flagged(rows)
    return out


def flagged(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The questions the rule answers "Not mentioned", by id, with the words it found in nothing stored."""
    return {r["id"]: {"question": r["question"], "words": r["unmentioned"]} for r in rows if r["unmentioned"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--longmemeval", nargs="*", type=Path, default=[], help="files in LongMemEval's format")
    ap.add_argument("--locomo", default=None, help="LoCoMo file (default $EDGEMEM_LOCOMO or the shared copy)")
    ap.add_argument("--locomo-conversations", nargs="*", default=[], help="e.g. conv-26 conv-30")
    ap.add_argument("--out", type=Path, default=None, help="Write the counts as JSON here.")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(str(Path(tmp) / "rule.db"))
        try:
            result: dict[str, Any] = {
                "rule": 'answer "Not mentioned" when an anchor word of the question begins no word of any stored text',
                "longmemeval": {p.name: longmemeval(store, p) for p in args.longmemeval},
                "locomo": {c: locomo(store, locomo_path(args.locomo), c) for c in args.locomo_conversations},
            }
        finally:
            store.close()
    print_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
