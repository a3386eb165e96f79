"""Schemathesis against the server's own OpenAPI schema: every route, generated inputs, no 5xx.
(The model is the deterministic EchoEngine; the store, embedder and HTTP stack are real.)
Run: .venv/bin/pytest tests/test_api_fuzz.py"""

from __future__ import annotations

import tempfile
from pathlib import Path

import schemathesis
from fakes import EchoEngine
from hypothesis import HealthCheck, settings

from edgemem import Memory
from edgemem.embedder import Embedder
from edgemem.server import create_app

_tmp = tempfile.TemporaryDirectory()
_memory = Memory(Path(_tmp.name) / "api.db", user="u", engine=EchoEngine(), embedder=Embedder(threads=1))
app = create_app(_memory, token="t0ken")
schema = schemathesis.openapi.from_asgi("/openapi.json", app)


@schema.parametrize()
@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call(headers={"Authorization": "Bearer t0ken"}, timeout=120)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
