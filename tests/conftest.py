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
# skip with NO_LOCOMO as the reason where it is absent. The harness tests use TINY, a made-up
# four-question conversation in the LoCoMo format, written to a temporary file by the ``tiny_path`` fixture
# (no copy of LoCoMo data is kept in the repository).
LOCOMO = locomo_path()
NO_LOCOMO = f"the LoCoMo file {LOCOMO} is absent: set EDGEMEM_LOCOMO to a locomo10.json-format file to run this test"
TINY: dict[str, Any] = {
    "sample_id": "tiny",
    "conversation": {
        "speaker_a": "Maya",
        "speaker_b": "Leo",
        "session_1_date_time": "10:15 am on 2 March, 2025",
        "session_1": [
            {"speaker": "Maya", "dia_id": "D1:1", "text": "I live in Porto and I work as a graphic designer."},
            {"speaker": "Leo", "dia_id": "D1:2", "text": "I am a nurse at the city hospital and I love running."},
        ],
        "session_2_date_time": "6:40 pm on 20 April, 2025",
        "session_2": [
            {
                "speaker": "Maya",
                "dia_id": "D2:1",
                "text": "I moved to Lisbon last week, my new flat is near the river.",
            },
            {"speaker": "Leo", "dia_id": "D2:2", "text": "I started training for the Berlin marathon in September."},
        ],
    },
    "qa": [
        {"question": "Where does Maya live?", "answer": "Lisbon", "evidence": ["D2:1"], "category": 4},
        {"question": "What is Leo's job?", "answer": "nurse", "evidence": ["D1:2"], "category": 4},
        {
            "question": "Which marathon is Leo training for?",
            "answer": "Berlin marathon",
            "evidence": ["D2:2"],
            "category": 4,
        },
        {"question": "What is Maya's job?", "answer": "graphic designer", "evidence": ["D1:1"], "category": 4},
    ],
}


@pytest.fixture
def tiny_path(tmp_path) -> Path:
    """TINY as a LoCoMo-format file."""
    path = tmp_path / "locomo_tiny.json"
    path.write_text(json.dumps([TINY]))
    return path


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
    """Memory on a real SQLite file in tmp_path with the real embedder and the given engine. The admission
    gate is off unless a test turns it on: scripted engines answer every message they are given, and the
    control-flow tests use short made-up messages ("message 3") the gate would skip."""
    from edgemem import Memory

    opened = []

    def make(engine: Any, name: str = "memory.db", **settings: Any) -> Memory:
        settings.setdefault("admission_gate", False)
        mem = Memory(tmp_path / name, user="u", engine=engine, embedder=embedder, **settings)
        opened.append(mem)
        return mem

    yield make
    for m in opened:
        m.close()


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


# `make test` runs two workers, one file per worker at a time (pytest-xdist --dist loadfile), and each worker
# starts with two files. The training smoke runs are a third of the suite: they go first with a small file,
# so one worker runs them while the other takes everything else.
FIRST = ("test_training.py", "test_config.py", "test_export.py", "test_metrics.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: file order kept otherwise
