"""The one way edgemem opens SQLite: WAL, busy timeout, foreign keys, sqlite-vec loaded, schema migrated.

Many Pythons (this project's CI machine, the macOS system Python) ship a ``sqlite3`` that cannot load
extensions. We then fall back to ``pysqlite3`` (PyPI ``pysqlite3-binary``) or ``sqlean``, which can.
"""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from . import migrations
from .errors import DatabaseCorrupt, DatabaseError, DatabaseLocked, ExtensionUnavailable, SchemaTooNew

SQLITE_HEADER = b"SQLite format 3\x00"
DEFAULT_BUSY_TIMEOUT_S = float(os.environ.get("EDGEMEM_BUSY_TIMEOUT", "10"))
_CANDIDATES = ("sqlite3", "pysqlite3.dbapi2", "sqlean")
_module: ModuleType | None = None


def sqlite_module() -> ModuleType:
    """The first DB-API sqlite module that can load extensions (cached)."""
    global _module
    if _module is not None:
        return _module
    for name in _CANDIDATES:
        try:
            mod = importlib.import_module(name)
        except ImportError:
            continue
        if hasattr(mod.Connection, "enable_load_extension"):
            _module = mod
            return mod
    raise ExtensionUnavailable(
        "This Python's sqlite3 cannot load extensions, and neither pysqlite3 nor sqlean is installed. "
        "Fix: pip install pysqlite3-binary (Linux) or pip install sqlean.py"
    )


def encode(vector: Any) -> bytes:
    """A vector as little-endian float32 bytes, the format sqlite-vec stores."""
    return np.asarray(vector, dtype="<f4").tobytes()


def decode(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4")


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise DatabaseError(f"Database path {path} is a directory. Fix: pass a file path such as {path / 'memory.db'}")
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_HEADER))
        if head != SQLITE_HEADER:
            raise DatabaseCorrupt(
                f"{path} is not a SQLite database (it starts with {head[:8]!r}). "
                "Fix: pass another --db path, or move this file away if it is not yours to keep."
            )
    elif not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)


def connect(path: str | os.PathLike[str] | None, *, busy_timeout: float = DEFAULT_BUSY_TIMEOUT_S) -> Any:
    """Open (creating if needed) an edgemem database and bring its schema up to date.

    Args:
        path: a file path, or None / ":memory:" for a private in-memory database.
        busy_timeout: seconds to wait for another writer before raising DatabaseLocked.
    Returns:
        A DB-API connection in autocommit mode; use :func:`transaction` to group writes.
    """
    sqlite = sqlite_module()
    target = ":memory:" if path in (None, ":memory:") else str(Path(path).expanduser())
    if target != ":memory:":
        _check_file(Path(target))
    try:
        conn = sqlite.connect(target, timeout=busy_timeout, check_same_thread=False, isolation_level=None)
    except sqlite.Error as e:
        raise DatabaseError(f"Cannot open database {target}: {e}. Fix: check the path and its permissions.") from e
    try:
        _load_vec(conn)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        if target != ":memory:":
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise DatabaseError(f"Cannot switch {target} to WAL mode (got {mode}). Fix: use a local disk.")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn)
    except sqlite.DatabaseError as e:
        conn.close()
        raise translate(e, target) from e
    except BaseException:
        conn.close()
        raise
    return conn


def _load_vec(conn: Any) -> None:
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        sqlite_vec.load(conn)
    finally:
        conn.enable_load_extension(False)


def translate(e: Exception, where: str = "the database") -> DatabaseError:
    """Turn a raw sqlite error into one of ours with a fix in the message."""
    msg = str(e)
    if "locked" in msg or "busy" in msg:
        return DatabaseLocked(
            f"{where} is locked by another process (waited {DEFAULT_BUSY_TIMEOUT_S:.0f} s). "
            "Fix: wait for the other edgemem process to finish, or use another --db."
        )
    if "malformed" in msg or "not a database" in msg or "file is encrypted" in msg:
        return DatabaseCorrupt(f"{where} is damaged ({msg}). Fix: restore it from a backup or use another --db.")
    return DatabaseError(f"Database error on {where}: {msg}")


@contextmanager
def transaction(conn: Any, *, retries: int = 3) -> Iterator[Any]:
    """BEGIN IMMEDIATE ... COMMIT, rolled back on any exception (Ctrl-C included).

    Taking the write lock at BEGIN means a writer never fails half-way through with SQLITE_BUSY.
    """
    sqlite = sqlite_module()
    for attempt in range(retries):
        try:
            conn.execute("BEGIN IMMEDIATE")
            break
        except sqlite.OperationalError as e:
            if attempt == retries - 1:
                raise translate(e) from e
            time.sleep(0.05 * (attempt + 1))
    try:
        yield conn
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except sqlite.Error as e:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise translate(e) from e


def migrate(conn: Any) -> list[str]:
    """Apply pending migrations (``edgemem.migrations``, in order); return the names applied now."""
    done = migrations.applied(conn)
    known = [name for name, _ in migrations.MIGRATIONS]
    unknown = [name for name in done if name not in known]
    if unknown:
        raise SchemaTooNew(
            f"This database was written by a newer edgemem (migrations {unknown}). Fix: upgrade edgemem."
        )
    now: list[str] = []
    for version, (name, fn) in enumerate(migrations.MIGRATIONS, start=1):
        if name in done:
            continue
        with transaction(conn):
            # Another process may have migrated while we waited for the lock.
            if conn.execute("SELECT 1 FROM _migrations WHERE name = ?", (name,)).fetchone():
                continue
            fn(conn)
            conn.execute(
                "INSERT INTO _migrations (version, name, applied_at) VALUES (?, ?, ?)",
                (version, name, datetime.now(timezone.utc).isoformat(timespec="seconds")),
            )
        now.append(name)
    return now
