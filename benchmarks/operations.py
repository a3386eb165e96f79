"""The Memory Manager's operations in bank files: manager output validity, comparable across banks.

    python -m benchmarks.operations ~/.cache/edgemem/banks/conv-30-*.db --out benchmarks/results/ops.json

Counts each bank's history by operation (ADD / UPDATE / DELETE / NOOP / REJECTED). REJECTED is what
the runtime refused from the manager's output (an unknown id, a deletion guard, an unparseable
entry), so its share is the manager's invalid-output rate on that conversation. The LoCoMo harness
records the same counts for the banks it builds (``ingest.*.operations`` in summary.json); this reads
banks built earlier, e.g. the untrained banks a comparison reuses.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.store import Store


def operations(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise InvalidInput(f"{path} does not exist. Fix: pass bank files (.db) the harness or edgemem wrote.")
    store = Store(str(path))
    try:
        ops = store.operation_counts()
    finally:
        store.close()
    total = sum(ops.values())
    return {"operations": ops, "total": total, "rejected_share": ops.get("REJECTED", 0) / total if total else 0.0}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.operations", description=__doc__.split("\n\n")[0])
    p.add_argument("banks", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None, help="also write the counts to this JSON file")
    args = p.parse_args(argv)
    try:
        result = {str(b): operations(b) for b in args.banks}
    except InvalidInput as e:
        raise SystemExit(f"Error: {e}") from e
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    print(text)
    return result


if __name__ == "__main__":
    main()
