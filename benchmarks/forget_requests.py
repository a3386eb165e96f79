"""How well requests to forget are recognised before fact extraction (``edgemem/forget_requests.py``).

    python -m benchmarks.forget_requests --out benchmarks/results/forget-requests.json

Two committed tables of messages, each labelled ``request`` (asks the assistant to forget or delete
something it was told) or ``other`` (a look-alike: "I forgot my keys", "don't forget the party"):
``forget_requests.tsv`` (50 + 50), written first and used while the rules were written, and
``forget_requests_heldout.tsv`` (24 + 24), written after the rules and not used to change them. Target
(issue: "forget that" works every time): precision >= 0.95 and recall >= 0.9. No model is involved.
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import asdict, dataclass, field
from pathlib import Path

from benchmarks import print_result
from edgemem.forget_requests import forget_request

DATA = Path(__file__).resolve().parent / "data"
TABLES = {"tuned": DATA / "forget_requests.tsv", "heldout": DATA / "forget_requests_heldout.tsv"}
TARGET_PRECISION, TARGET_RECALL = 0.95, 0.9


@dataclass
class Score:
    requests: int
    others: int
    true_positives: int
    precision: float
    recall: float
    missed: list[str] = field(default_factory=list)  # requests not recognised
    false_alarms: list[str] = field(default_factory=list)  # look-alikes taken for requests


def read_table(path: Path) -> list[tuple[bool, str]]:
    """(is a request, text) rows of a table with a ``label`` and a ``text`` column."""
    with path.open(newline="", encoding="utf-8") as f:
        return [(row["label"] == "request", row["text"]) for row in csv.DictReader(f, delimiter="\t")]


def score(rows: list[tuple[bool, str]]) -> Score:
    found = [(is_request, text, forget_request(text) is not None) for is_request, text in rows]
    tp = sum(r and f for r, _, f in found)
    flagged = sum(f for _, _, f in found)
    requests = sum(r for r, _, _ in found)
    return Score(
        requests=requests,
        others=len(found) - requests,
        true_positives=tp,
        precision=round(tp / flagged, 4) if flagged else 0.0,
        recall=round(tp / requests, 4) if requests else 0.0,
        missed=[t for r, t, f in found if r and not f],
        false_alarms=[t for r, t, f in found if f and not r],
    )


def main(argv: list[str] | None = None) -> dict[str, object]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=None, help="Write the scores as JSON here.")
    args = ap.parse_args(argv)
    scores = {name: asdict(score(read_table(path))) for name, path in TABLES.items()}
    data: dict[str, object] = {
        "targets": {"precision": TARGET_PRECISION, "recall": TARGET_RECALL},
        "tables": {name: str(path.relative_to(DATA.parent.parent)) for name, path in TABLES.items()},
        "scores": scores,
    }
    print_result(data, args.out)
    return data


if __name__ == "__main__":
    main()
