"""The edgemem command: real processes and files. Run: .venv/bin/pytest tests/test_cli.py"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgemem.cli import cli
from edgemem.db import connect, sqlite_module
from edgemem.store import Store

EDGEMEM = [sys.executable, "-m", "edgemem.cli"]


def run(*args, **kw):
    return subprocess.run([*EDGEMEM, *args], capture_output=True, text=True, timeout=600, **kw)


def test_import_does_not_pull_training_deps():
    code = "import sys, edgemem; bad = [m for m in ('torch', 'transformers', 'trl', 'peft') if m in sys.modules]; print(bad)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_command_has_help():
    runner = CliRunner()
    for name, command in cli.commands.items():
        assert command.help, f"{name} has no help text"
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, result.output


def test_models_json():
    result = CliRunner().invoke(cli, ["models", "--json"])
    rows = json.loads(result.output)
    assert {r["name"] for r in rows} >= {"qwen2.5-coder-0.5b", "smollm2-135m"}
    assert all(isinstance(r["adapters"], list) for r in rows)  # the trained adapters shipped for each


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["memories", "--db", "{notdb}"], 4, "is not a SQLite database"),
        (["forget", "12345", "--db", "{db}"], 2, "No memory with id 12345"),
        (["ask", "hello?", "--db", "{db}", "--model", "{missing}"], 3, "does not exist"),
        (["ask", "hello?", "--db", "{db}", "--model", "no-such-model"], 3, "Known model names"),
        (["ingest", "{notdb}", "--db", "{db}"], 2, "is not valid JSON"),
        (["search", "  ", "--db", "{db}"], 2, "query is empty"),
    ],
)
def test_errors_are_one_clean_line(tmp_path, args, code, message):
    notdb = tmp_path / "notes.txt"
    notdb.write_text("hello, not a database")
    paths = {"notdb": notdb, "db": tmp_path / "m.db", "missing": tmp_path / "missing.gguf"}
    Store(str(paths["db"])).close()  # an existing (empty) store: read commands refuse a missing one
    result = run(*(a.format(**paths) for a in args))
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert notdb.read_text() == "hello, not a database"


@pytest.mark.parametrize(
    "args",
    [
        ["memories"],
        ["search", "Lisbon"],
        ["history"],
        ["ask", "Where?"],
        ["forget", "1"],
        ["export-memories", "--out", "x.json"],
        ["flush"],
        ["status"],
    ],
)
def test_read_commands_on_a_missing_store_say_so_and_create_nothing(tmp_path, args):
    """A typo in --db must not look like "my memories are gone": no directory, no empty store is made."""
    db = tmp_path / "typo" / "dir" / "x.db"
    result = run(*args, "--db", str(db))
    assert result.returncode == 2 and "No edgemem store at" in result.stderr and str(db) in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "typo").exists()


def test_locked_database_is_reported(tmp_path):
    db = tmp_path / "m.db"
    Store(str(db)).close()
    assert run("memories", "--db", str(db)).returncode == 0
    holder = sqlite_module().connect(str(db), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        r = run("forget", "1", "--db", str(db), env={**os.environ, "EDGEMEM_BUSY_TIMEOUT": "0.2"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert r.returncode == 4 and "locked by another process" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_add_ask_search_forget_restore(tmp_path):
    db = str(tmp_path / "m.db")
    common = ["--db", db, "--model", "smollm2-135m", "--threads", "1"]
    r = run(
        "add", "I adopted a puppy called Biscuit.", "--speaker", "Maya", "--time", "2 March 2025", "--json", *common
    )
    assert r.returncode == 0, r.stderr
    added = json.loads(r.stdout)
    assert added["speaker"] == "Maya" and added["llm_calls"] >= 1
    r = run("memories", "--json", *common)
    items = json.loads(r.stdout)
    r = run("ask", "What is the puppy called?", "--json", *common)
    assert r.returncode == 0 and json.loads(r.stdout)["answer"]
    r = run("ask", "What is the puppy called?", "--no-adapters", "--json", *common)  # the untrained agents
    assert r.returncode == 0 and json.loads(r.stdout)["answer"], r.stderr
    r = run("ask", "What is the puppy called?", "--cited", "--json", *common)  # Memory-R1's cited format
    assert r.returncode == 0 and "answer" in json.loads(r.stdout)["raw"], r.stderr
    # a question about something never mentioned: "Not mentioned" without a model call, unless --no-abstain
    r = run("ask", "What is the name of my hamster?", *common)
    assert (r.returncode, r.stdout.strip()) == (0, "Not mentioned") and "hamster" in r.stderr, r.stderr
    r = run("ask", "What is the name of my hamster?", "--no-abstain", "--json", *common)
    assert r.returncode == 0 and json.loads(r.stdout)["unmentioned"] == [], r.stderr
    if items:  # SmolLM2 may extract nothing; the flow below needs one memory
        mid = str(items[0]["id"])
        hits = json.loads(run("search", "puppy", "--json", *common).stdout)
        assert hits[0]["id"] == items[0]["id"]
        assert run("forget", mid, *common).returncode == 0
        assert json.loads(run("memories", "--json", *common).stdout) == [m for m in items if str(m["id"]) != mid]
        assert run("restore", mid, *common).returncode == 0
        ops = [h["op"] for h in json.loads(run("history", "--memory-id", mid, "--json", *common).stdout)]
        assert ops[-2:] == ["FORGET", "RESTORE"]
    # --no-wait stores the message (no model needed) and leaves it queued; flush consolidates it
    r = run("add", "My sister Ana lives in Porto.", "--speaker", "Maya", "--no-wait", "--json", *common)
    assert r.returncode == 0 and json.loads(r.stdout)["pending"] is True, r.stderr
    assert json.loads(run("status", "--json", *common).stdout)["pending"] == 1
    r = run("flush", "--json", *common)
    assert r.returncode == 0 and json.loads(r.stdout) == {"consolidated": 1, "pending": 0}, r.stderr
    assert json.loads(run("status", "--json", *common).stdout)["pending"] == 0


def _turns(db: Path) -> int:
    """Consolidated turns (ingest stores every turn first), read by a plain connection (not read-only: a
    read-only open of a WAL file being written can fail, and a failure here would look like "no turns yet")."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM turns WHERE pending = 0").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_kill_during_ingest_then_resume(tmp_path):
    """Ctrl-C, then kill -9, in the middle of an ingest: the file stays sound, no turn is half-applied, and the
    same command finishes the job."""
    msgs = tmp_path / "chat.jsonl"
    lines = [
        {
            "speaker": "Sam" if i % 2 else "Ann",
            "text": f"Message {i}: I visited city number {i} and bought a souvenir there.",
        }
        for i in range(24)  # long enough that the signals land mid-ingest on a loaded machine
    ]
    msgs.write_text("\n".join(json.dumps(m) for m in lines))
    db = tmp_path / "m.db"
    args = ["ingest", str(msgs), "--db", str(db), "--model", "smollm2-135m", "--threads", "1"]
    for stop_after, sig in ((2, signal.SIGINT), (5, signal.SIGKILL)):
        proc = subprocess.Popen([*EDGEMEM, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while _turns(db) < stop_after and time.time() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, f"the ingest ended before the signal ({_turns(db)} turns stored)"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        if sig == signal.SIGINT:  # Ctrl-C: a clean message, not a traceback
            assert proc.returncode == 130, (proc.returncode, err[-2000:])
            assert "Stopping after the current message" in err and "run the same command to resume" in err
            assert "Traceback" not in err and "Exception ignored" not in err
        check_complete(db)
    r = run(*args, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["turns"] == 24 and out["skipped"] >= 2
    assert check_complete(db) == 24


def check_complete(db: Path) -> int:
    """The file is sound and every stored turn is whole: its vector is there, every live memory has
    its vector and every deleted one has none. Returns the number of turns."""
    conn = connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        turns = conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0]
        assert conn.execute("SELECT COUNT(*) FROM turn_vectors").fetchone()[0] == turns
        live = {r[0] for r in conn.execute("SELECT id FROM memories WHERE deleted = 0")}
        assert {r[0] for r in conn.execute("SELECT memory_id FROM memory_vectors")} == live
        orphans = conn.execute(
            "SELECT COUNT(*) FROM history WHERE turn_id IS NOT NULL AND turn_id NOT IN (SELECT id FROM turns)"
        )
        assert orphans.fetchone()[0] == 0
        return int(turns)
    finally:
        conn.close()


def test_first_ctrl_c_stops_after_the_message_second_at_once():
    """The ingest's Ctrl-C handler only raises between messages (a KeyboardInterrupt raised inside a
    ctypes callback would be swallowed); a second Ctrl-C raises at once; the old handler comes back."""
    from edgemem.cli import StopAfterMessage

    before = signal.getsignal(signal.SIGINT)
    stop = StopAfterMessage()
    with stop:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the handler has run: no exception yet, the stop is pending
        assert stop.requested
        with pytest.raises(KeyboardInterrupt):
            stop.check()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is before
    StopAfterMessage().check()  # nothing asked: nothing raised
