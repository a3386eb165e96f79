"""Shared fixtures. Run the suite with `make test` (or `.venv/bin/pytest tests`; `-m "not slow"` skips
the tests that run a real GGUF model).

Real components everywhere except where a test needs a model to say something exact: there the
deterministic ScriptedEngine plays the LLM.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from fakes import ScriptedEngine

ROOT = Path(__file__).resolve().parent.parent
# Assembled models are cached across runs here (the chunked Qwen GGUF is 491 MB to rebuild).
os.environ.setdefault("EDGEMEM_HOME", str(ROOT / ".cache" / "test-home"))
LOCOMO = ROOT.parent / "shared" / "data" / "locomo" / "locomo_dev.json"


@pytest.fixture(scope="session")
def embedder():
    from edgemem.embedder import Embedder

    return Embedder(threads=1)


@pytest.fixture(scope="session")
def smol_path() -> Path:
    from edgemem.models import resolve_model

    return resolve_model("smollm2-135m")


@pytest.fixture(scope="session")
def smol_engine(smol_path):
    from edgemem.engine import LlamaEngine

    engine = LlamaEngine(smol_path, n_ctx=2048, threads=1)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def qwen_engine():
    from edgemem.engine import LlamaEngine
    from edgemem.models import resolve_model

    engine = LlamaEngine(resolve_model("qwen2.5-coder-0.5b"), n_ctx=4096, threads=1)
    yield engine
    engine.close()


@pytest.fixture
def scripted() -> ScriptedEngine:
    return ScriptedEngine()


@pytest.fixture
def make_memory(tmp_path, embedder):
    """Memory on a real SQLite file in tmp_path with the real embedder and the given engine."""
    from edgemem import Memory

    opened = []

    def make(engine: Any, name: str = "memory.db", **settings: Any) -> Memory:
        mem = Memory(tmp_path / name, user="u", engine=engine, embedder=embedder, **settings)
        opened.append(mem)
        return mem

    yield make
    for m in opened:
        m.store.close()
