"""The examples in the docstrings run as tests, so what a reader copies from them stays true."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(f.relative_to(ROOT).with_suffix("").parts)
    for package in ("edgemem", "training", "benchmarks", "export")
    for f in (ROOT / package).glob("*.py")
    if ">>> " in f.read_text(encoding="utf-8")
)


def test_examples_are_found() -> None:
    assert "edgemem.parsing" in MODULES and "edgemem.dates" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed"
