"""How many extracted facts the untrained manager's operation list leaves out, read from banks' history.

    python experiments/manager-keep-shifted-facts/shifted_facts.py NAME=BANK.db [NAME=DIR_OF_BANKS ...]

The manager answers with one operation per fact, in order; the planner records each operation's fact (the
fact of its slot) in ``history.detail``. A fact is *left out* when its slot's ADD or UPDATE wrote another
fact of the same turn and no operation of the turn wrote it: the list was shifted and the fact fell off.
A slot is *shifted but harmless* when its ADD or UPDATE wrote another fact and its own fact was written
by another slot. Guard-rewritten operations (their detail names the guard) are not counted as slots.
"""

from __future__ import annotations

import json
import sqlite3
import sys
from collections import defaultdict
from pathlib import Path

GUARDS = ("update of", "delete of", "duplicate", "request to forget", "over the", "fact left out")


def count(bank: Path) -> dict[str, int]:
    c = sqlite3.connect(f"file:{bank}?mode=ro", uri=True)
    rows = c.execute("SELECT turn_id, op, new_text, detail FROM history WHERE turn_id IS NOT NULL ORDER BY id")
    turns: dict[int, list[tuple[str, str, str]]] = defaultdict(list)
    for turn, op, text, detail in rows:
        turns[turn].append((op, (text or "").strip().lower(), (detail or "").strip().lower()))
    c.close()
    out = {"turns with facts": 0, "facts": 0, "left out": 0, "shifted but harmless": 0}
    for ops in turns.values():
        slots = [(op, text, fact) for op, text, fact in ops if fact and not fact.startswith(GUARDS)]
        slots = [s for s in slots if not s[2].startswith("kept as a raw turn") and "admission" not in s[2]]
        facts = {fact for _, _, fact in slots}
        if not facts:
            continue
        written = {text for op, text, _ in ops if op in ("ADD", "UPDATE")}
        out["turns with facts"] += 1
        out["facts"] += len(slots)
        for op, text, fact in slots:
            if op in ("ADD", "UPDATE") and text != fact and text in facts:
                out["left out" if fact not in written else "shifted but harmless"] += 1
    return out


def main(args: list[str]) -> dict[str, dict[str, int]]:
    result = {}
    for arg in args:
        name, _, path = arg.partition("=")
        banks = sorted(Path(path).glob("*.db")) if Path(path).is_dir() else [Path(path)]
        total: dict[str, int] = defaultdict(int)
        for bank in banks:
            for k, v in count(bank).items():
                total[k] += v
        result[name] = {"banks": len(banks), **total}
    return result


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1:]), indent=2))
