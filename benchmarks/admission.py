"""What the admission gate (``edgemem/admission.py``) skips, on LoCoMo conversations.

    python -m benchmarks.admission --conversations conv-26 conv-30 \
        --bank conv-30=runs/banks/conv-30-qwen2.5-coder-0-b823cb50b0ac.db --out benchmarks/results/admission-gate.json

For each conversation: the share of messages the gate skips (each skip saves the extraction call and
the manager call) and, as precision and recall of "admitted", how the admitted messages cover the
messages that LoCoMo's questions cite as evidence (a skipped evidence message is not distilled into
facts; its raw turn is still searchable). The rule was chosen on conv-26 (training) and is checked on
conv-30 (validation). ``--bank CONV=FILE`` (a bank built without the gate) also scores it against the
facts the extractor found: positive = the extractor found at least one fact in the message. No model
is called.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from pathlib import Path
from typing import Any

from benchmarks import print_result
from edgemem.admission import MIN_WORDS, worth_extracting
from edgemem.locomo import find_conversation, kept_turns, locomo_path, scored_questions


def precision_recall(rows: list[tuple[bool, bool]]) -> dict[str, Any]:
    """rows: (admitted, positive) per message -> precision and recall of "admitted"."""
    tp = sum(a and p for a, p in rows)
    admitted, positive = sum(a for a, _ in rows), sum(p for _, p in rows)
    return {
        "positives": positive,
        "admitted": admitted,
        "precision": round(tp / admitted, 4) if admitted else 0.0,
        "recall": round(tp / positive, 4) if positive else 0.0,
    }


def extractor_facts(bank: Path) -> dict[str, bool]:
    """Message key -> whether the extractor found a fact in it, from a bank built without the gate."""
    with sqlite3.connect(f"file:{bank}?mode=ro", uri=True) as c:
        return {key: bool(json.loads(facts or "[]")) for key, facts in c.execute("SELECT key, facts FROM turns")}


def score(data: Path, conversation: str, bank: Path | None = None) -> dict[str, Any]:
    conv = find_conversation(data, conversation)
    turns = kept_turns(conv)
    evidence = {e for q in scored_questions(conv) for e in q.evidence}
    admitted = {t.key: worth_extracting(t.text) for t in turns}
    out: dict[str, Any] = {
        "messages": len(turns),
        "skipped": sum(not a for a in admitted.values()),
        "skip_rate": round(sum(not a for a in admitted.values()) / len(turns), 4),
        "vs_evidence": precision_recall([(admitted[t.key], t.key in evidence) for t in turns]),
        "evidence_skipped": [
            f"{t.key} {t.speaker}: {t.text[:100]}" for t in turns if t.key in evidence and not admitted[t.key]
        ],
    }
    if bank is not None:
        found = extractor_facts(bank)
        rows = [(admitted[k], has) for k, has in found.items() if k in admitted]
        out["vs_extractor"] = {"bank": str(bank), "messages": len(rows), **precision_recall(rows)}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=None, help="LoCoMo file (default $EDGEMEM_LOCOMO or the shared copy)")
    ap.add_argument("--conversations", nargs="+", default=["conv-26", "conv-30"])
    ap.add_argument("--bank", action="append", default=[], metavar="CONV=FILE", help="a bank built without the gate")
    ap.add_argument("--out", type=Path, default=None, help="Write the scores as JSON here.")
    args = ap.parse_args(argv)
    banks = dict(b.split("=", 1) for b in args.bank)
    data = locomo_path(args.data)
    result = {
        "rule": f"skip a message with no first-person word and fewer than {MIN_WORDS} words",
        "chosen_on": "conv-26",
        "conversations": {c: score(data, c, Path(banks[c]) if c in banks else None) for c in args.conversations},
    }
    print_result(result, args.out)
    return result


if __name__ == "__main__":
    main()
