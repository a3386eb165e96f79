"""Schema of an edgemem database, as an ordered list of migrations recorded in ``_migrations``.

Each migration runs in one transaction together with its record, so a crash leaves either the old or
the new schema. Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

EMBEDDING_DIM = 384  # all-MiniLM-L6-v2

Migration = Callable[[Any], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    if any(name == fn.__name__ for name, _ in MIGRATIONS):
        raise ValueError(f"duplicate migration {fn.__name__}")
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_initial(conn: Any) -> None:
    # Raw dialogue turns. A turn row is written in the same transaction as the memory operations it
    # caused, so "the turn exists" means "the turn was fully applied": that is what resume relies on.
    conn.execute(
        """CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            user TEXT NOT NULL,
            source TEXT NOT NULL,
            key TEXT NOT NULL,
            speaker TEXT NOT NULL,
            text TEXT NOT NULL,
            time TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (user, source, key)
        )"""
    )
    conn.execute(
        """CREATE TABLE memories (
            id INTEGER PRIMARY KEY,
            user TEXT NOT NULL,
            speaker TEXT NOT NULL,
            text TEXT NOT NULL,
            time TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            source_turn INTEGER REFERENCES turns (id)
        )"""
    )
    conn.execute("CREATE INDEX memories_user ON memories (user, speaker, deleted)")
    conn.execute(
        """CREATE TABLE history (
            id INTEGER PRIMARY KEY,
            user TEXT NOT NULL,
            memory_id INTEGER REFERENCES memories (id),
            op TEXT NOT NULL,
            old_text TEXT,
            new_text TEXT,
            turn_id INTEGER REFERENCES turns (id),
            detail TEXT,
            created_at TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX history_user ON history (user, memory_id)")
    # Vectors: one partition per user keeps a search inside one user's rows (and fast);
    # chunk_size 128 because a partition reserves a whole chunk and most users are small.
    conn.execute(
        f"""CREATE VIRTUAL TABLE memory_vectors USING vec0 (
            memory_id INTEGER PRIMARY KEY,
            user TEXT PARTITION KEY,
            speaker TEXT,
            embedding FLOAT[{EMBEDDING_DIM}] distance_metric=cosine,
            chunk_size=128
        )"""
    )
    conn.execute(
        f"""CREATE VIRTUAL TABLE turn_vectors USING vec0 (
            turn_id INTEGER PRIMARY KEY,
            user TEXT PARTITION KEY,
            embedding FLOAT[{EMBEDDING_DIM}] distance_metric=cosine,
            chunk_size=128
        )"""
    )


@migration
def m002_turn_facts(conn: Any) -> None:
    # The facts extraction found in each turn (JSON list): training rebuilds the manager's input from it.
    conn.execute("ALTER TABLE turns ADD COLUMN facts TEXT")


def applied(conn: Any) -> list[str]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS _migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY version")]


# How keyword search reads text: Unicode words folded to lower case without diacritics. No stemming: the
# porter stemmer turns names into other words ("Ines" -> "in"), and names and dates are what keyword
# search is for; the embedder already matches word forms.
FTS_TOKENIZE = "unicode61 remove_diacritics 2"


@migration
def m003_keyword_index(conn: Any) -> None:
    # Keyword (FTS5, BM25) indexes of live memories and raw turns, next to their vectors, for hybrid
    # search: a name or a date the embedder misses is still found. Each row's rowid is the memory's or
    # turn's id; the indexed text is "speaker: text". Triggers keep them in step with every write of
    # the base tables, inside the same transaction (a soft-deleted memory leaves the index, a restored
    # one comes back), and the index is filled from the rows already stored.
    conn.execute(
        f"CREATE VIRTUAL TABLE memory_fts USING fts5(text, user UNINDEXED, speaker UNINDEXED, tokenize='{FTS_TOKENIZE}')"
    )
    conn.execute(f"CREATE VIRTUAL TABLE turn_fts USING fts5(text, user UNINDEXED, tokenize='{FTS_TOKENIZE}')")
    conn.execute(
        "CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories WHEN new.deleted = 0 BEGIN "
        "INSERT INTO memory_fts (rowid, text, user, speaker) VALUES (new.id, new.speaker || ': ' || new.text, new.user, new.speaker); END"
    )
    conn.execute(
        "CREATE TRIGGER memories_fts_update AFTER UPDATE OF text, speaker, deleted, user ON memories BEGIN "
        "DELETE FROM memory_fts WHERE rowid = old.id; "
        "INSERT INTO memory_fts (rowid, text, user, speaker) SELECT new.id, new.speaker || ': ' || new.text, new.user, new.speaker "
        "WHERE new.deleted = 0; END"
    )
    conn.execute(
        "CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN DELETE FROM memory_fts WHERE rowid = old.id; END"
    )
    conn.execute(
        "CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN "
        "INSERT INTO turn_fts (rowid, text, user) VALUES (new.id, new.speaker || ': ' || new.text, new.user); END"
    )
    conn.execute(
        "CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN DELETE FROM turn_fts WHERE rowid = old.id; END"
    )
    conn.execute(
        "INSERT INTO memory_fts (rowid, text, user, speaker) SELECT id, speaker || ': ' || text, user, speaker FROM memories WHERE deleted = 0"
    )
    conn.execute("INSERT INTO turn_fts (rowid, text, user) SELECT id, speaker || ': ' || text, user FROM turns")


@migration
def m004_hidden_turns(conn: Any) -> None:
    # A raw turn whose memory was deleted (by the manager) or forgotten (by the user) leaves search and
    # answers with it: otherwise the forgotten fact keeps being answered from the message it came from.
    # Soft, like the memory: one row per (turn, memory that hides it); restoring the memory removes its
    # row, and the turn is back once no deleted memory hides it. Triggers keep this in step with every
    # write of memories.deleted; the turns of memories deleted before this migration are hidden now.
    conn.execute(
        "CREATE TABLE hidden_turns (turn_id INTEGER NOT NULL, memory_id INTEGER NOT NULL, PRIMARY KEY (turn_id, memory_id))"
    )
    conn.execute("CREATE INDEX hidden_turns_memory ON hidden_turns (memory_id)")
    conn.execute(
        "CREATE TRIGGER memories_hide_turn AFTER UPDATE OF deleted ON memories "
        "WHEN new.deleted = 1 AND new.source_turn IS NOT NULL BEGIN "
        "INSERT OR IGNORE INTO hidden_turns (turn_id, memory_id) VALUES (new.source_turn, new.id); END"
    )
    conn.execute(
        "CREATE TRIGGER memories_show_turn AFTER UPDATE OF deleted ON memories WHEN new.deleted = 0 BEGIN "
        "DELETE FROM hidden_turns WHERE memory_id = new.id; END"
    )
    conn.execute(
        "CREATE TRIGGER memories_drop_hidden AFTER DELETE ON memories BEGIN "
        "DELETE FROM hidden_turns WHERE memory_id = old.id; END"
    )
    conn.execute(
        "CREATE TRIGGER turns_drop_hidden AFTER DELETE ON turns BEGIN DELETE FROM hidden_turns WHERE turn_id = old.id; END"
    )
    conn.execute(
        "INSERT OR IGNORE INTO hidden_turns (turn_id, memory_id) "
        "SELECT source_turn, id FROM memories WHERE deleted = 1 AND source_turn IS NOT NULL"
    )


@migration
def m005_memory_versions(conn: Any) -> None:
    # What an UPDATE overwrote stays findable as a superseded version, with the dialogue time it stopped
    # being current ("until"): questions about the latest state get the latest fact, questions about the
    # past still find the old one. Its vector moves to version_vectors; a keyword index as for memories.
    # Versions of a deleted memory are not searched. Versions of UPDATEs made before this migration are
    # rebuilt from the history (their old text; keyword search only: their vectors were overwritten).
    conn.execute(
        """CREATE TABLE memory_versions (
            id INTEGER PRIMARY KEY,
            memory_id INTEGER NOT NULL REFERENCES memories (id),
            user TEXT NOT NULL,
            speaker TEXT NOT NULL,
            text TEXT NOT NULL,
            time TEXT,
            until TEXT,
            until_turn INTEGER,
            created_at TEXT NOT NULL
        )"""
    )
    conn.execute("CREATE INDEX memory_versions_memory ON memory_versions (memory_id)")
    conn.execute(
        f"""CREATE VIRTUAL TABLE version_vectors USING vec0 (
            version_id INTEGER PRIMARY KEY,
            user TEXT PARTITION KEY,
            embedding FLOAT[{EMBEDDING_DIM}] distance_metric=cosine,
            chunk_size=128
        )"""
    )
    conn.execute(f"CREATE VIRTUAL TABLE version_fts USING fts5(text, user UNINDEXED, tokenize='{FTS_TOKENIZE}')")
    conn.execute(
        "CREATE TRIGGER versions_fts_insert AFTER INSERT ON memory_versions BEGIN "
        "INSERT INTO version_fts (rowid, text, user) VALUES (new.id, new.speaker || ': ' || new.text, new.user); END"
    )
    conn.execute(
        "CREATE TRIGGER versions_fts_delete AFTER DELETE ON memory_versions BEGIN "
        "DELETE FROM version_fts WHERE rowid = old.id; DELETE FROM version_vectors WHERE version_id = old.id; END"
    )
    conn.execute(
        "INSERT INTO memory_versions (memory_id, user, speaker, text, time, until, until_turn, created_at) "
        "SELECT h.memory_id, h.user, m.speaker, h.old_text, NULL, t.time, h.turn_id, h.created_at FROM history h "
        "JOIN memories m ON m.id = h.memory_id LEFT JOIN turns t ON t.id = h.turn_id "
        "WHERE h.op = 'UPDATE' AND h.old_text IS NOT NULL ORDER BY h.id"
    )


@migration
def m006_vector_log(conn: Any) -> None:
    # Which stored vectors changed, in commit order: the in-process vector index of each process
    # (edgemem/vector_index.py) reads the rows after the last one it saw and reloads those items' vectors,
    # so it follows every write, another process's included. Triggers on the base tables write it in the
    # same transaction as the vector itself (a vec0 table cannot carry triggers). Nothing to backfill: an
    # index loads everything on first use.
    conn.execute(
        "CREATE TABLE vector_log (seq INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, "
        "user TEXT NOT NULL, item_id INTEGER NOT NULL)"
    )
    for table, kind in (("turns", "turn"), ("memories", "memory"), ("memory_versions", "version")):
        log = f"INSERT INTO vector_log (kind, user, item_id) VALUES ('{kind}', %s.user, %s.id)"
        conn.execute(f"CREATE TRIGGER {table}_log_insert AFTER INSERT ON {table} BEGIN {log % ('new', 'new')}; END")
        conn.execute(f"CREATE TRIGGER {table}_log_delete AFTER DELETE ON {table} BEGIN {log % ('old', 'old')}; END")
    conn.execute(
        "CREATE TRIGGER memories_log_update AFTER UPDATE OF text, speaker, deleted, user ON memories BEGIN "
        "INSERT INTO vector_log (kind, user, item_id) VALUES ('memory', new.user, new.id); END"
    )


@migration
def m007_consolidation_queue(conn: Any) -> None:
    # Writes that never block: ``Memory.add`` stores the raw turn (searchable at once) with pending = 1, and
    # the consolidator (edgemem/consolidator.py) later runs extraction and the Memory Manager and, in one
    # transaction, applies the operations and sets pending = 0. So every turn is either queued or fully
    # consolidated; turns stored before this migration were consolidated when they were stored. The partial
    # index makes "the oldest pending turn of a user" a lookup however many turns are done.
    conn.execute("ALTER TABLE turns ADD COLUMN pending INTEGER NOT NULL DEFAULT 0")
    conn.execute("CREATE INDEX turns_pending ON turns (user, id) WHERE pending = 1")
    # Which consolidator works on a user's queue: one at a time per user keeps dialogue order, and two
    # processes on one file never both consolidate a turn. A lease ends when its owner releases it, when it
    # expires, or (same host) when its process is gone, so a killed process's queue is resumed at once.
    conn.execute(
        "CREATE TABLE consolidation_leases (user TEXT PRIMARY KEY, owner TEXT NOT NULL, host TEXT NOT NULL, "
        "pid INTEGER NOT NULL, expires REAL NOT NULL)"
    )


@migration
def m008_numeric_key_index(conn: Any) -> None:
    # A live message's key is one more than the largest numeric key of its (user, source) so far: without
    # this index every ``add`` scanned all of them (6 ms at 20k turns, growing with the store); with it the
    # largest is one index lookup.
    conn.execute("CREATE INDEX turns_numeric_key ON turns (user, source, CAST(key AS INTEGER)) WHERE key GLOB '[0-9]*'")


@migration
def m009_keyword_vocabularies(conn: Any) -> None:
    # How many documents of each keyword index hold a word (fts5vocab, 'row': read from the index itself,
    # nothing stored). A keyword query keeps the rarest words of the question up to a number of documents
    # (store.MAX_QUERY_POSTINGS): BM25 gives common words little weight, but scoring every document they
    # match made the fused search cost 24 ms p95 at 100k items.
    for table in ("memory_fts", "turn_fts", "version_fts"):
        conn.execute(f"CREATE VIRTUAL TABLE {table}_vocab USING fts5vocab({table}, row)")


@migration
def m010_turn_vector_text(conn: Any) -> None:
    # Turn vectors now embed "[time] speaker: text" (Turn.vector_text) instead of the text alone. The turns
    # stored before are listed here, and Memory re-embeds them when it opens the file (an embedder is not
    # SQL), batch by batch, each batch's vectors and its removal from the list in one transaction.
    conn.execute("CREATE TABLE turns_to_reembed (turn_id INTEGER PRIMARY KEY)")
    conn.execute("INSERT INTO turns_to_reembed (turn_id) SELECT turn_id FROM turn_vectors")
