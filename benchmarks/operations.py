"""The Memory Manager's operations in bank files: manager output validity, comparable across banks.

    python -m benchmarks.operations ~/.cache/edgemem/banks/conv-30-*.db --out runs/ops.json

Counts each bank's history by operation (ADD / UPDATE / DELETE / NOOP / REJECTED). REJECTED is what
the runtime refused from the manager's output (an unknown id, a deletion guard, an unparseable
entry), so its share is the manager's invalid-output rate on that conversation. The LoCoMo harness
records the same counts for the banks it builds (``ingest.*.operations`` in summary.json); this reads
banks built earlier, e.g. the untrained banks a comparison reuses.

It also measures the bank itself: how many live memories there are, and the share of them that are
near duplicates of another memory of the same speaker (cosine of the stored vectors >= 0.9). A
manager that ADDs what it should have UPDATEd or NOOPed grows the bank with such pairs, and they
take retrieval slots the answer agent could have used for other facts.

With ``--updates`` it also measures what each UPDATE overwrote: the MiniLM cosine of the memory's old
text with its new one. The runtime's relatedness guard (0.6) turns only an UPDATE of an unrelated memory
into an ADD; above it an UPDATE may still replace one fact with another on the same topic ("Gina lost her
job at Door Dash" -> "Gina works on Friday"), and the old fact is gone from the bank.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from edgemem.errors import InvalidInput
from edgemem.store import Store

# MiniLM cosine between two memories. Measured on conv-26's manager prompts: at >= 0.9 the pairs are the
# same fact reworded ("Melanie is a friend of Caroline" / "Melanie is Caroline's friend"); at 0.8-0.9
# many are related but new facts ("passed the adoption interviews" / "has experience with adoption").
NEAR_DUPLICATE = 0.9


def near_duplicates(vectors: np.ndarray, threshold: float = NEAR_DUPLICATE) -> int:
    """How many of these (unit) vectors have another one at cosine >= ``threshold``."""
    if len(vectors) < 2:
        return 0
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    return int((sims.max(axis=1) >= threshold).sum())


def update_similarities(store: Store, embedder: Any) -> list[float]:
    """The cosine of old and new text of every UPDATE in ``store`` (all users), in history order."""
    pairs = [
        (h.old_text, h.new_text)
        for user in store.users()
        for h in store.history(user)
        if h.op == "UPDATE" and h.old_text and h.new_text
    ]
    if not pairs:
        return []
    old, new = embedder.embed([o for o, _ in pairs]), embedder.embed([n for _, n in pairs])
    return [float(x) for x in (old * new).sum(axis=1)]  # unit vectors: the dot product is the cosine


def operations(path: Path, embedder: Any = None) -> dict[str, Any]:
    """The counts of one bank file; with ``embedder`` also its UPDATEs' old/new similarity."""
    if not path.exists():
        raise InvalidInput(f"{path} does not exist. Fix: pass bank files (.db) the harness or edgemem wrote.")
    store = Store(str(path))
    try:
        ops = store.operation_counts()
        memories = duplicates = 0
        for user in store.users():
            live = store.memories(user)
            vectors = store.vectors([m.id for m in live])
            memories += len(live)
            for speaker in {m.speaker for m in live}:  # the answer agent retrieves per speaker
                duplicates += near_duplicates(np.array([vectors[m.id] for m in live if m.speaker == speaker]))
        sims = update_similarities(store, embedder) if embedder is not None else None
    finally:
        store.close()
    total = sum(ops.values())
    return {
        "operations": ops,
        "total": total,
        "rejected_share": ops.get("REJECTED", 0) / total if total else 0.0,
        "memories": memories,
        "near_duplicate_share": duplicates / memories if memories else 0.0,
        "near_duplicate_threshold": NEAR_DUPLICATE,
    } | (
        {}
        if sims is None
        else {
            "updates_measured": len(sims),
            "update_old_new_cosine_median": round(float(np.median(sims)), 3) if sims else None,
            "update_old_new_cosine_below_0.8_share": round(sum(x < 0.8 for x in sims) / len(sims), 3) if sims else None,
        }
    )


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.operations", description=__doc__.split("\n\n")[0])
    p.add_argument("banks", nargs="+", type=Path)
    p.add_argument("--out", type=Path, default=None, help="also write the counts to this JSON file")
    p.add_argument("--updates", action="store_true", help="also each UPDATE's old/new text similarity (MiniLM)")
    args = p.parse_args(argv)
    try:
        embedder = None
        if args.updates:
            from edgemem.embedder import Embedder

            embedder = Embedder(threads=1)
        result = {str(b): operations(b, embedder) for b in args.banks}
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
