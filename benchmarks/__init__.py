"""Benchmarks: LoCoMo accuracy, latency, and the rule tables (each a ``python -m benchmarks.<name>`` script)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def print_result(data: Any, out: Path | None) -> None:
    """Print a benchmark's result as JSON, and write it to ``out`` when given (the committed form)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    print(text)
