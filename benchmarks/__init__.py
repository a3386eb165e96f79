"""Benchmarks: LoCoMo accuracy, latency, and the rule tables (each a ``python -m benchmarks.<name>`` script)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def print_result(data: Any, out: Path | None) -> None:
    """Print a benchmark's result as JSON, and write it to ``out`` when given (the committed form)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)


def pyplot() -> Any:
    """matplotlib's pyplot on its file-only backend, or None (said on stderr) when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plots)", file=sys.stderr)
        return None
    return plt


def grouped_bars(
    plt: Any,
    path: Path,
    labels: list[str],
    series: dict[str, list[float]],
    title: str,
    width_in: float = 8,
    ylabel: str = "F1",
) -> None:
    """One group of bars per label, one bar per series in each (F1 per category and system), saved to ``path``."""
    fig, ax = plt.subplots(figsize=(width_in, 4))
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        ax.bar([x + i * width for x in range(len(labels))], values, width, label=name)
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(labels))], labels, fontsize=8 if width_in > 8 else None)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
