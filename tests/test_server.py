"""The HTTP server (a real uvicorn process on a loopback port) and the MCP server (a real MCP client
session over stdio). Run: .venv/bin/pytest tests/test_server.py"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fakes import EchoEngine, RecordingEngine

from edgemem.server import FairLock, create_app

EDGEMEM = [sys.executable, "-m", "edgemem.cli"]


def wait_healthy(base: str, seconds: float) -> None:
    """Until the server at ``base`` answers /health (it loads the embedder first)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"{base} did not start within {seconds} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def client(make_memory):
    from fastapi.testclient import TestClient

    return TestClient(create_app(make_memory(EchoEngine()), token="s3cret"))


AUTH = {"Authorization": "Bearer s3cret"}


def test_users_are_isolated(client):
    for user, text in (("alice", "I love tea"), ("bob", "I love coffee")):
        r = client.post(f"/v1/users/{user}/messages?wait=true", json={"text": text, "speaker": user}, headers=AUTH)
        assert r.status_code == 200 and r.json()["queue_s"] >= 0
    alice = client.get("/v1/users/alice/memories", headers=AUTH).json()["result"]
    assert [m["text"] for m in alice] == ["alice said: I love tea"]
    bob_id = client.get("/v1/users/bob/memories", headers=AUTH).json()["result"][0]["id"]
    # alice cannot read, delete or restore bob's memory by its id
    assert client.delete(f"/v1/users/alice/memories/{bob_id}", headers=AUTH).status_code == 404
    assert client.post(f"/v1/users/alice/memories/{bob_id}/restore", headers=AUTH).status_code == 404
    hits = client.get("/v1/users/alice/search", params={"q": "coffee"}, headers=AUTH).json()["result"]
    assert all("alice" in h["text"] for h in hits)
    ctx = client.get("/v1/users/alice/context", params={"q": "tea", "budget_tokens": 200}, headers=AUTH).json()
    assert "tea" in ctx["result"]["text"] and "bob" not in ctx["result"]["text"] and ctx["result"]["tokens"] <= 200
    bad = client.get("/v1/users/alice/context", params={"q": "tea", "budget_tokens": 0}, headers=AUTH)
    assert bad.status_code == 400 and "budget_tokens" in bad.text
    assert client.get("/v1/users/bob/memories", headers=AUTH).json()["result"][0]["deleted"] is False
    a = client.post("/v1/users/alice/answer", json={"question": "What does alice love?"}, headers=AUTH).json()
    assert a["result"]["answer"] and "queue_s" in a


def test_answer_is_told_the_date_it_is_asked(make_memory):
    from fastapi.testclient import TestClient

    eng = RecordingEngine()
    client = TestClient(create_app(make_memory(eng)))
    client.post("/v1/users/mia/messages?wait=true", json={"text": "I adopted Pixel", "speaker": "mia"})
    r = client.post("/v1/users/mia/answer", json={"question": "When did I adopt Pixel?", "now": "28 May 2023"})
    assert r.status_code == 200 and "Today is 28 May 2023." in eng.sent["answer-plain"][-1][-1]["content"]
    assert client.post("/v1/users/mia/answer", json={"question": "When?", "now": ""}).status_code in (400, 422)


def test_streamed_answer(client):
    client.post("/v1/users/zoe/messages?wait=true", json={"text": "I live in Oslo", "speaker": "zoe"}, headers=AUTH)
    with client.stream(
        "POST", "/v1/users/zoe/answer/stream", json={"question": "Where does zoe live?"}, headers=AUTH
    ) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    tokens = [e["token"] for e in events if "token" in e]
    # the answer is the reply's first line (EchoEngine: the first excerpt), streamed as it comes
    assert len(tokens) > 1 and "".join(tokens) == events[-1]["result"]["answer"] == "zoe: I live in Oslo"
    with client.stream("POST", "/v1/users/zoe/answer/stream", json={"question": "x"}) as r:
        assert r.status_code == 401
    # something zoe never mentioned: "Not mentioned" at once, with the word, streamed like any answer
    with client.stream(
        "POST", "/v1/users/zoe/answer/stream", json={"question": "What is my hamster called?"}, headers=AUTH
    ) as r:
        events = [json.loads(line) for line in r.iter_lines() if line]
    assert [e["token"] for e in events if "token" in e] == ["Not mentioned"]
    assert events[-1]["result"]["unmentioned"] == ["hamster"]


def test_token_and_bad_input(client):
    assert client.get("/v1/users/alice/memories").status_code == 401
    assert client.get("/v1/users/alice/memories", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert client.get("/health").status_code == 200  # health needs no token
    r = client.post("/v1/users/alice/messages?wait=true", json={"text": "   "}, headers=AUTH)
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    assert client.post("/v1/users/alice/messages?wait=true", json={"speaker": "x"}, headers=AUTH).status_code == 422
    assert client.get("/openapi.json").json()["info"]["title"] == "edgemem"


def test_history_forget_restore_reset(client):
    client.post("/v1/users/u1/messages?wait=true", json={"text": "I live in Oslo"}, headers=AUTH)
    mid = client.get("/v1/users/u1/memories", headers=AUTH).json()["result"][0]["id"]
    assert client.delete(f"/v1/users/u1/memories/{mid}", headers=AUTH).json()["result"]["deleted"] is True
    assert client.post(f"/v1/users/u1/memories/{mid}/restore", headers=AUTH).json()["result"]["deleted"] is False
    ops = [h["op"] for h in client.get("/v1/users/u1/history", headers=AUTH).json()["result"]]
    assert ops == ["ADD", "FORGET", "RESTORE"]
    assert client.delete("/v1/users/u1", headers=AUTH).json()["result"]["removed_memories"] == 1


def test_fair_lock_serves_in_arrival_order():
    lock, order = FairLock(), []

    def worker(i: int) -> None:
        with lock.hold():
            order.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    with lock.hold():  # everyone queues behind the holder, in the order they arrive
        for t in threads:
            t.start()
            time.sleep(0.05)
    for t in threads:
        t.join(5)
    assert order == list(range(6))


def test_refuses_to_expose_without_token(tmp_path):
    r = subprocess.run(
        [*EDGEMEM, "serve", "--db", str(tmp_path / "m.db"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "EDGEMEM_TOKEN"},
    )
    assert r.returncode == 2 and "Fix: pass --token" in r.stderr


@pytest.mark.slow
def test_real_server_process(tmp_path):
    port = free_port()
    proc = subprocess.Popen(
        [
            *EDGEMEM,
            "serve",
            "--db",
            str(tmp_path / "m.db"),
            "--port",
            str(port),
            "--model",
            "smollm2-135m",
            "--threads",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, 120)
        r = httpx.post(
            f"{base}/v1/users/maya/messages?wait=true",
            json={"text": "I adopted a puppy named Biscuit.", "speaker": "Maya"},
            timeout=120,
        )
        assert r.status_code == 200 and r.json()["result"]["llm_calls"] >= 1
        r = httpx.post(f"{base}/v1/users/maya/answer", json={"question": "What is the puppy called?"}, timeout=120)
        assert r.status_code == 200 and r.json()["result"]["answer"]
        with httpx.stream(
            "POST", f"{base}/v1/users/maya/answer/stream", json={"question": "What is the puppy called?"}, timeout=120
        ) as s:
            events = [json.loads(line) for line in s.iter_lines() if line]
        tokens = "".join(e["token"] for e in events if "token" in e)
        assert tokens and tokens == events[-1]["result"]["answer"]  # streamed pieces add up to the answer
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.mark.slow
def test_mcp_stdio_session(tmp_path):
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "edgemem.cli", "mcp", "--db", str(tmp_path / "m.db"), "--model", "smollm2-135m", "--threads", "1"],
        env={**os.environ},
        cwd=str(Path(__file__).resolve().parents[1]),
    )

    async def session() -> dict:
        async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
            await s.initialize()
            tools = {t.name for t in (await s.list_tools()).tools}
            remembered = await s.call_tool("remember", {"text": "I moved to Lisbon last week.", "speaker": "Maya"})
            recalled = await s.call_tool("recall", {"query": "Lisbon"})
            answered = await s.call_tool("answer", {"question": "Where does Maya live?"})
            unmentioned = await s.call_tool("answer", {"question": "Where does my Uncle Bob live?"})
            return {
                "tools": tools,
                "remember": remembered,
                "recall": recalled,
                "answer": answered,
                "unmentioned": unmentioned,
            }

    out = asyncio.run(session())
    assert out["tools"] == {"remember", "recall", "answer", "forget"}
    assert not out["remember"].is_error and not out["answer"].is_error and not out["recall"].is_error
    text = json.dumps([c.model_dump() for c in out["answer"].content])
    assert "answer" in text
    recalled = json.dumps([c.model_dump() for c in out["recall"].content])
    assert "Lisbon" in recalled and "tokens" in recalled  # the budgeted context: facts and the message
    unmentioned = json.loads(out["unmentioned"].content[0].text)
    assert unmentioned == {"answer": "Not mentioned", "cited": [], "unmentioned": ["uncle", "bob"]}


def test_export_import_roundtrip(client, tmp_path):
    client.post(
        "/v1/users/ann/messages?wait=true",
        json={"text": "I live in Oslo", "speaker": "ann", "time": "1 May"},
        headers=AUTH,
    )
    client.post("/v1/users/ann/messages?wait=true", json={"text": "I have a cat", "speaker": "ann"}, headers=AUTH)
    mid = client.get("/v1/users/ann/memories", headers=AUTH).json()["result"][1]["id"]
    client.delete(f"/v1/users/ann/memories/{mid}", headers=AUTH)
    data = client.get("/v1/users/ann/export", headers=AUTH).json()["result"]
    assert (
        len(data["memories"]) == 2
        and len(data["turns"]) == 2
        and [h["op"] for h in data["history"]] == ["ADD", "ADD", "FORGET"]
    )
    r = client.post("/v1/users/ann2/import", json=data, headers=AUTH).json()["result"]
    assert r == {"turns": 2, "memories": 2, "history": 3}
    live = client.get("/v1/users/ann2/memories", headers=AUTH).json()["result"]
    assert [m["text"] for m in live] == ["ann said: I live in Oslo"]
    hits = client.get("/v1/users/ann2/search", params={"q": "Oslo"}, headers=AUTH).json()["result"]
    assert hits and hits[0]["text"] == "ann said: I live in Oslo"  # vectors were rebuilt
    again = client.get("/v1/users/ann2/export", headers=AUTH).json()["result"]
    assert [m["text"] for m in again["memories"]] == [m["text"] for m in data["memories"]]
    assert (
        client.post("/v1/users/ann3/import", json={"format": 1, "memories": [{"nope": 1}]}, headers=AUTH).status_code
        == 400
    )


def test_export_import_cli(tmp_path):
    from edgemem.store import Store

    db, out = tmp_path / "m.db", tmp_path / "mine.json"
    Store(str(db)).close()  # an empty store: exporting from a path with no store is refused
    assert (
        subprocess.run(
            [*EDGEMEM, "export-memories", "--db", str(db), "--out", str(out)], capture_output=True, timeout=120
        ).returncode
        == 0
    )
    assert json.loads(out.read_text())["memories"] == []
    r = subprocess.run(
        [*EDGEMEM, "import-memories", str(out), "--db", str(db), "--user", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "Imported 0 memories" in r.stdout
    (tmp_path / "bad.json").write_text("{")
    r = subprocess.run(
        [*EDGEMEM, "import-memories", str(tmp_path / "bad.json"), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Cannot read" in r.stderr


def test_a_message_is_accepted_at_once_and_consolidated_in_the_background(client):
    r = client.post("/v1/users/kim/messages", json={"text": "I live in Oslo", "speaker": "kim"}, headers=AUTH)
    assert r.status_code == 202
    stored = r.json()["result"]
    assert stored["pending"] is True and stored["turn_id"] and stored["operations"] == []
    # the raw message is in the context at once
    ctx = client.get("/v1/users/kim/context", params={"q": "Where does kim live?"}, headers=AUTH).json()
    assert "Oslo" in ctx["result"]["text"]
    deadline = time.time() + 30
    while (status := client.get("/v1/users/kim/status", headers=AUTH).json()["result"])["pending"]:
        assert time.time() < deadline, status
        time.sleep(0.05)
    assert status["turns"] == 1 and status["memories"] == 1 and status["consolidator_running"] is True
    assert status["last_error"] is None
    assert [m["text"] for m in client.get("/v1/users/kim/memories", headers=AUTH).json()["result"]] == [
        "kim said: I live in Oslo"
    ]
    r = client.post(
        "/v1/users/kim/ingest", json={"messages": [{"text": "I have a cat", "speaker": "kim"}]}, headers=AUTH
    )
    assert r.status_code == 202 and r.json()["result"]["stored"] == 1
    assert client.get("/v1/users/kim/status").status_code == 401
