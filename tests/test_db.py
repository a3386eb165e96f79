"""The database layer on real files: schema, WAL, locking, corrupt files. Run: .venv/bin/pytest tests/test_db.py"""

import pytest

from edgemem import migrations
from edgemem.db import connect, migrate, sqlite_module, transaction
from edgemem.errors import DatabaseCorrupt, DatabaseError, DatabaseLocked, SchemaTooNew


def columns(conn, table):
    return [(r[1], r[2]) for r in conn.execute(f"PRAGMA table_info({table})")]


def test_fresh_database_schema(tmp_path):
    conn = connect(tmp_path / "m.db")
    assert [r[0] for r in conn.execute("SELECT name FROM _migrations")] == [n for n, _ in migrations.MIGRATIONS]
    assert columns(conn, "memories") == [
        ("id", "INTEGER"),
        ("user", "TEXT"),
        ("speaker", "TEXT"),
        ("text", "TEXT"),
        ("time", "TEXT"),
        ("created_at", "TEXT"),
        ("updated_at", "TEXT"),
        ("deleted", "INTEGER"),
        ("source_turn", "INTEGER"),
    ]
    assert columns(conn, "history") == [
        ("id", "INTEGER"),
        ("user", "TEXT"),
        ("memory_id", "INTEGER"),
        ("op", "TEXT"),
        ("old_text", "TEXT"),
        ("new_text", "TEXT"),
        ("turn_id", "INTEGER"),
        ("detail", "TEXT"),
        ("created_at", "TEXT"),
    ]
    assert [c for c, _ in columns(conn, "turns")] == [
        "id",
        "user",
        "source",
        "key",
        "speaker",
        "text",
        "time",
        "created_at",
        "facts",
        "pending",
    ]
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("SELECT vec_version()").fetchone()[0].startswith("v")


def test_migrate_is_idempotent(tmp_path):
    connect(tmp_path / "m.db").close()
    conn = connect(tmp_path / "m.db")
    assert migrate(conn) == []


def test_database_from_newer_edgemem(tmp_path):
    conn = connect(tmp_path / "m.db")
    conn.execute("INSERT INTO _migrations VALUES (99, 'm099_future', 'x')")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade edgemem"):
        connect(tmp_path / "m.db")


def test_not_a_database_is_left_untouched(tmp_path):
    path = tmp_path / "notes.db"
    path.write_bytes(b"my precious notes, not sqlite" * 10)
    before = path.read_bytes()
    with pytest.raises(DatabaseCorrupt, match="not a SQLite database"):
        connect(path)
    assert path.read_bytes() == before


def test_damaged_database(tmp_path):
    path = tmp_path / "m.db"
    connect(path).close()
    data = bytearray(path.read_bytes())
    data[100:4096] = b"\xff" * (4096 - 100)  # smash the schema page, keep the header
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseError):
        connect(path)


def test_directory_path(tmp_path):
    with pytest.raises(DatabaseError, match="is a directory"):
        connect(tmp_path)


def test_locked_database(tmp_path):
    path = tmp_path / "m.db"
    holder = connect(path)
    holder.execute("BEGIN IMMEDIATE")
    other = connect(path, busy_timeout=0.2)
    with pytest.raises(DatabaseLocked, match="locked by another process"):
        with transaction(other):
            pass
    holder.execute("ROLLBACK")
    with transaction(other):  # free again
        pass


def test_transaction_rolls_back(tmp_path):
    conn = connect(tmp_path / "m.db")
    with pytest.raises(RuntimeError):
        with transaction(conn):
            conn.execute(
                "INSERT INTO turns (user, source, key, speaker, text, created_at) VALUES ('u','s','1','a','b','t')"
            )
            raise RuntimeError("boom")
    assert conn.execute("SELECT COUNT(*) FROM turns").fetchone()[0] == 0


def test_sqlite_module_can_load_extensions():
    assert hasattr(sqlite_module().Connection, "enable_load_extension")
