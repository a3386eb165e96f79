"""Shared fixtures. Run the suite with `make test` (or `.venv/bin/pytest tests`; `-m "not slow"` skips
the tests that run a real GGUF model).

Real components everywhere except where a test needs a model to say something exact: there the
deterministic ScriptedEngine plays the LLM.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fakes import ScriptedEngine

from edgemem.locomo import locomo_path

ROOT = Path(__file__).resolve().parent.parent
# Assembled models are cached across runs here (the chunked Qwen GGUF is 491 MB to rebuild).
os.environ.setdefault("EDGEMEM_HOME", str(ROOT / ".cache" / "test-home"))
# The real LoCoMo file (--data / $EDGEMEM_LOCOMO / ../shared/data/locomo/locomo_dev.json): tests that need it
# skip with NO_LOCOMO as the reason where it is absent. The harness tests use TINY, a committed
# four-question conversation in the LoCoMo format (tests/data/locomo_tiny.json).
LOCOMO = locomo_path()
NO_LOCOMO = f"the LoCoMo file {LOCOMO} is absent: set EDGEMEM_LOCOMO to a locomo10.json-format file to run this test"
TINY_PATH = ROOT / "tests" / "data" / "locomo_tiny.json"
TINY: dict[str, Any] = json.loads(TINY_PATH.read_text())[0]


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


def old_store(path: Path, migrated: int) -> Any:
    """A raw connection to a new database file with only the first ``migrated`` migrations applied and
    recorded: a store as an earlier edgemem wrote it (the caller adds rows, closes, then opens it)."""
    from edgemem import migrations
    from edgemem.db import _load_vec, sqlite_module

    conn = sqlite_module().connect(str(path), isolation_level=None)
    _load_vec(conn)
    for _name, fn in migrations.MIGRATIONS[:migrated]:
        fn(conn)
    migrations.applied(conn)
    names = [(i + 1, name) for i, (name, _) in enumerate(migrations.MIGRATIONS[:migrated])]
    conn.executemany("INSERT INTO _migrations VALUES (?, ?, 'then')", names)
    return conn
