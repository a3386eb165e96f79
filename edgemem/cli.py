"""The ``edgemem`` command. Each command opens a :class:`Memory` and calls one of its methods."""

from __future__ import annotations

import dataclasses
import functools
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .config import PRESETS, MemoryConfig
from .errors import EdgememError, InvalidInput
from .memory import Memory
from .models import SHIPPED_ADAPTERS, adapters_dir, edgemem_home, list_models


def default_db() -> Path:
    return edgemem_home() / "memory.db"


def store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every store command takes: --db, --user, --model, --threads."""
    fn = click.option("--threads", type=int, default=None, help="llama.cpp threads (default: up to 4).")(fn)
    fn = click.option("--model", default=None, help="Model name (see `edgemem models`) or a .gguf path.")(fn)
    fn = click.option("--user", default="default", show_default=True, help="Whose memories.")(fn)
    fn = click.option(
        "--db", type=click.Path(dir_okay=False), default=None, help="Database file [default: $EDGEMEM_HOME/memory.db]."
    )(fn)
    return fn


def background_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--background/--no-background",
        default=True,
        show_default=True,
        help="Consolidate stored messages in the background; --no-background leaves them to `edgemem flush` "
        "or another process on the file.",
    )(fn)


def adapters_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--no-adapters",
        is_flag=True,
        help="Serve the untrained agents: no installed trained adapter (see `edgemem models`).",
    )(fn)


def adapters_setting(no_adapters: bool) -> dict[str, Any]:
    """The MemoryConfig setting of --no-adapters: {} turns the installed trained adapters off, None keeps them."""
    return {"adapters": {} if no_adapters else None}


def json_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(fn)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """EdgememError → one line on stderr and its exit code; no traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except EdgememError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(e.exit_code)

    return wrapper


def open_memory(
    db: str | None, user: str, model: str | None, threads: int | None, *, existing: bool = False, **settings: Any
) -> Memory:
    """The store at ``db``. ``existing``: a command that only reads (or changes what is stored) refuses a
    path where no store exists, and creates nothing there: an empty new store would read as "my
    memories are gone" when the path has a typo."""
    path = Path(db or default_db()).expanduser()
    if existing and not path.exists():
        raise InvalidInput(
            f"No edgemem store at {path}: nothing to read. Fix: check --db (the default is $EDGEMEM_HOME/memory.db); "
            "`edgemem add` or `edgemem ingest` creates a store."
        )
    config = MemoryConfig(model=model, threads=threads, **settings)
    return Memory(path, user=user, config=config)


def emit(data: Any, as_json: bool, text: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        text()


def asdict(obj: Any) -> Any:
    if isinstance(obj, list):
        return [asdict(o) for o in obj]
    return dataclasses.asdict(obj)


@click.group()
@click.version_option(package_name="edgemem")
def cli() -> None:
    """edgemem: long-term memory for LLM agents, offline on your CPU."""


@cli.command()
@store_options
@click.option("--fresh", is_flag=True, help="Forget the demo bank and ingest again.")
@adapters_option
@handle_errors
def demo(db: str | None, user: str, model: str | None, threads: int | None, fresh: bool, no_adapters: bool) -> None:
    """Ingest a small demo conversation, show every memory operation, answer questions."""
    from .demo import run_demo

    with open_memory(
        db or str(edgemem_home() / "demo.db"), user, model, threads, **adapters_setting(no_adapters)
    ) as mem:
        run_demo(mem, echo=click.echo, fresh=fresh)


class StopAfterMessage:
    """Ctrl-C during an ingest: the first one stops after the message being processed, a second one at
    once. Why not Python's default: under load an ingest once ignored Ctrl-C and ran to the end (exit
    0). The likely cause: a KeyboardInterrupt raised while Python runs a ctypes callback (llama.cpp's
    log hook) is printed and swallowed by ctypes. A handler that only sets a flag cannot be lost."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopAfterMessage:
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # the second Ctrl-C
            raise KeyboardInterrupt
        self.requested = True
        click.echo("\nStopping after the current message (Ctrl-C again to stop at once) ...", err=True)

    def check(self) -> None:
        """Called between messages: leave the ingest if a stop was asked for."""
        if self.requested:
            raise KeyboardInterrupt


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--conversation", default=None, help="LoCoMo sample_id to ingest (e.g. conv-30).")
@click.option("--limit", type=int, default=None, help="Only the first N messages.")
@store_options
@json_option
@handle_errors
def ingest(
    file: str,
    conversation: str | None,
    limit: int | None,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Ingest a LoCoMo JSON conversation or a .jsonl of messages: every message is stored first (searchable
    at once), then consolidated into memories in order. Resumes where it stopped."""
    from tqdm import tqdm

    from .conversation import load_turns

    source, turns = load_turns(file, conversation)
    turns = turns[:limit] if limit is not None else turns
    with open_memory(db, user, model, threads) as mem:
        bar: Any = None
        stop = StopAfterMessage()

        def on_stored(stored: int, pending: int) -> None:
            nonlocal bar
            if not as_json:
                click.echo(
                    f"{source}: {stored} messages stored ({len(turns) - stored} already); consolidating {pending} ...",
                    err=True,
                )
            bar = tqdm(total=pending, desc=f"consolidate {source}", unit="msg", file=sys.stderr, disable=as_json)

        def on_turn(r: Any) -> None:
            if bar is not None and not r.skipped:
                bar.update(1)
            stop.check()

        try:
            with stop:
                result = mem.ingest(turns, on_turn=on_turn, on_stored=on_stored)
        except KeyboardInterrupt:
            if bar is not None:
                bar.close()
            click.echo(
                "\nInterrupted: every message is stored and the finished ones are consolidated; "
                "run the same command to resume (or `edgemem flush`).",
                err=True,
            )
            sys.exit(130)
        if bar is not None:
            bar.close()
        stats = mem.stats()
        data = {
            "source": source,
            "stored": result.stored,
            "processed": result.processed,
            "skipped": result.skipped,
            "seconds": round(result.seconds, 2),
            **stats,
        }
        emit(
            data,
            as_json,
            lambda: click.echo(
                f"{source}: {result.processed} messages consolidated, {result.skipped} already stored; "
                f"{stats['memories']} memories in the bank ({result.seconds:.1f} s)."
            ),
        )


@cli.command()
@click.argument("text")
@click.option("--speaker", default="user", show_default=True, help="Who said it.")
@click.option("--time", "when", default=None, help="When it was said (shown to the agents).")
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="Consolidate before exiting and print the operations; --no-wait only stores it (`edgemem flush` later).",
)
@store_options
@json_option
@handle_errors
def add(
    text: str,
    speaker: str,
    when: str | None,
    wait: bool,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Remember one message."""
    from .demo import describe

    with open_memory(db, user, model, threads) as mem:
        r = mem.add(text, speaker=speaker, time=when, wait=wait)
        lines = describe(r) if not r.pending else [f"  stored as turn {r.turn_id}; consolidate with `edgemem flush`"]
        emit(asdict(r), as_json, lambda: click.echo("\n".join(lines)))


@cli.command()
@click.option("--timeout", type=float, default=None, help="Stop after this many seconds (the rest stays queued).")
@click.option("--all-users", is_flag=True, help="Every user's queue, not only --user's.")
@store_options
@json_option
@handle_errors
def flush(
    timeout: float | None,
    all_users: bool,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Consolidate the messages still queued (stored with --no-wait, or left by an interrupted process)."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        before = mem.store.pending_count(None if all_users else mem.user)
        left = mem.flush(timeout, user=None if all_users else mem.user)
        data = {"consolidated": before - left, "pending": left}
        emit(data, as_json, lambda: click.echo(f"{before - left} messages consolidated, {left} still pending."))


@cli.command()
@store_options
@json_option
@handle_errors
def status(db: str | None, user: str, model: str | None, threads: int | None, as_json: bool) -> None:
    """Counts for the user: memories, stored messages, history entries, messages pending consolidation."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        stats = mem.stats()
        emit(stats, as_json, lambda: click.echo(", ".join(f"{k}: {v}" for k, v in stats.items())))


@cli.command()
@click.argument("question")
@click.option("--k", type=int, default=None, help="Memories per speaker (default: answer_k, 3).")
@click.option(
    "--cited",
    is_flag=True,
    help="Memory-R1's cited answer: the model lists the memories that answer, then answers (5 memories per "
    "speaker + 5 turns; the format the trained answer adapter learned). Default: a plain short answer.",
)
@click.option("--now", default=None, help='When the question is asked, e.g. "28 May 2023" (for "how long ago").')
@click.option(
    "--no-abstain",
    is_flag=True,
    help='Ask the model even when a word the question is about is in no stored text (default: "Not mentioned").',
)
@store_options
@adapters_option
@json_option
@handle_errors
def ask(
    question: str,
    k: int | None,
    cited: bool,
    now: str | None,
    no_abstain: bool,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    no_adapters: bool,
    as_json: bool,
) -> None:
    """Answer a question from the memories."""
    settings = {**adapters_setting(no_adapters), "abstain_unmentioned": not no_abstain}
    if cited:
        settings.update(PRESETS["cited"])
    with open_memory(db, user, model, threads, existing=True, **settings) as mem:
        a = mem.answer(question, k=k, now=now)

        def text() -> None:
            click.echo(a.answer)
            if a.unmentioned:
                click.echo(f"  (nothing stored mentions: {', '.join(a.unmentioned)})", err=True)
            for c in a.cited:
                click.echo(f"  #{c.id} {c.time}: {c.text}", err=True)

        emit(asdict(a), as_json, text)


@cli.command()
@click.argument("query")
@click.option("--k", type=int, default=10, show_default=True)
@click.option("--speaker", default=None, help="Only this speaker's memories.")
@store_options
@json_option
@handle_errors
def search(
    query: str,
    k: int,
    speaker: str | None,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """Find the memories most similar to QUERY (no LLM)."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        hits = mem.search(query, k, speaker=speaker)

        def text() -> None:
            for h in hits:
                click.echo(f"{h.score:.3f}  #{h.id} [{h.speaker}] {h.text}")

        emit(asdict(hits), as_json, text)


@cli.command()
@click.option("--speaker", default=None)
@click.option("--all", "include_deleted", is_flag=True, help="Include deleted memories.")
@store_options
@json_option
@handle_errors
def memories(
    speaker: str | None,
    include_deleted: bool,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    as_json: bool,
) -> None:
    """List stored memories."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        items = mem.memories(speaker=speaker, include_deleted=include_deleted)

        def text() -> None:
            for m in items:
                click.echo(f"#{m.id} [{m.speaker}, {m.time}]{' (deleted)' if m.deleted else ''} {m.text}")

        emit(asdict(items), as_json, text)


@cli.command()
@click.option("--memory-id", type=int, default=None, help="Only this memory's history.")
@click.option("--limit", type=int, default=50, show_default=True, help="The newest N entries.")
@store_options
@json_option
@handle_errors
def history(
    memory_id: int | None, limit: int, db: str | None, user: str, model: str | None, threads: int | None, as_json: bool
) -> None:
    """Show the log of memory operations."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        rows = mem.history(memory_id, limit=limit)

        def text() -> None:
            for h in rows:
                change = (
                    f"{h.old_text!r} -> {h.new_text!r}"
                    if h.old_text and h.new_text
                    else (h.new_text or h.old_text or "")
                )
                click.echo(f"{h.created_at} {h.op:<8} #{h.memory_id} {change} {h.detail or ''}".rstrip())

        emit(asdict(rows), as_json, text)


@cli.command()
@click.argument("memory_id", type=int)
@store_options
@json_option
@handle_errors
def forget(memory_id: int, db: str | None, user: str, model: str | None, threads: int | None, as_json: bool) -> None:
    """Delete a memory (restorable with `edgemem restore`)."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        item = mem.forget(memory_id)
        emit(asdict(item), as_json, lambda: click.echo(f"Forgot #{item.id}: {item.text}"))


@cli.command()
@click.argument("memory_id", type=int)
@store_options
@json_option
@handle_errors
def restore(memory_id: int, db: str | None, user: str, model: str | None, threads: int | None, as_json: bool) -> None:
    """Bring back a deleted or forgotten memory."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        item = mem.restore(memory_id)
        emit(asdict(item), as_json, lambda: click.echo(f"Restored #{item.id}: {item.text}"))


@cli.command()
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@store_options
@handle_errors
def reset(yes: bool, db: str | None, user: str, model: str | None, threads: int | None) -> None:
    """Remove all memories, messages and history of a user."""
    if not yes:
        click.confirm(f"Remove everything stored for user {user!r}?", abort=True)
    with open_memory(db, user, model, threads, existing=True) as mem:
        click.echo(f"Removed {mem.reset()} memories of {user!r}.")


@cli.command(name="export-memories")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    default="-",
    show_default=True,
    help="File to write (- for stdout).",
)
@store_options
@handle_errors
def export_memories(out_file: str, db: str | None, user: str, model: str | None, threads: int | None) -> None:
    """Write a user's messages, memories and history as JSON (your data, portable)."""
    with open_memory(db, user, model, threads, existing=True) as mem:
        text = json.dumps(mem.export_memories(), ensure_ascii=False, indent=2)
    if out_file == "-":
        click.echo(text)
    else:
        Path(out_file).write_text(text, encoding="utf-8")
        click.echo(f"Exported to {out_file}.", err=True)


@cli.command(name="import-memories")
@click.argument("file", type=click.Path(dir_okay=False))
@store_options
@handle_errors
def import_memories(file: str, db: str | None, user: str, model: str | None, threads: int | None) -> None:
    """Add a JSON export (from `export-memories`) to a user."""
    try:
        data = json.loads(Path(file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InvalidInput(
            f"Cannot read {file} as JSON ({e}). Fix: pass a file written by `edgemem export-memories`."
        ) from e
    with open_memory(db, user, model, threads) as mem:
        counts = mem.import_memories(data)
    click.echo(
        f"Imported {counts['memories']} memories, {counts['turns']} messages, {counts['history']} history rows for {user!r}."
    )


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to bind (anything but loopback needs --token)."
)
@click.option("--port", type=int, default=8765, show_default=True)
@click.option(
    "--token", envvar="EDGEMEM_TOKEN", default=None, help="Bearer token required from clients [env EDGEMEM_TOKEN]."
)
@background_option
@store_options
@adapters_option
@handle_errors
def serve(
    host: str,
    port: int,
    token: str | None,
    background: bool,
    db: str | None,
    user: str,
    model: str | None,
    threads: int | None,
    no_adapters: bool,
) -> None:
    """Serve the memory over a local HTTP API (OpenAPI at /docs)."""
    from .server import serve as run_server

    with open_memory(db, user, model, threads, background=background, **adapters_setting(no_adapters)) as mem:
        click.echo(f"edgemem: serving {mem.path} on http://{host}:{port} (docs: /docs)", err=True)
        run_server(mem, host, port, token)


@cli.command()
@background_option
@store_options
@adapters_option
@handle_errors
def mcp(background: bool, db: str | None, user: str, model: str | None, threads: int | None, no_adapters: bool) -> None:
    """Serve the memory as an MCP server over stdio (remember / recall / answer / forget)."""
    from .mcp_server import run_stdio

    with open_memory(db, user, model, threads, background=background, **adapters_setting(no_adapters)) as mem:
        run_stdio(mem)


@cli.command()
@json_option
@handle_errors
def models(as_json: bool) -> None:
    """List the packaged models (installed or not, size, how to install) and the trained adapters for
    them: once installed they answer by default (--no-adapters turns them off)."""
    rows = list_models()
    adapters = {a.name: a for a in SHIPPED_ADAPTERS}

    def text() -> None:
        for m in rows:
            state = f"installed  {m.path}" if m.installed else f"missing    {m.install}"
            click.echo(f"{m.name:<20} {m.size / 1e6:7.0f} MB  {state}")
            for name in m.adapters:
                a = adapters[name]
                path = adapters_dir() / a.file
                where = "installed, on by default" if path.exists() else f"not installed: {a.build}"
                click.echo(f"  + {name:<16} {a.agent} agent, {where} ({a.card})")

    emit([dataclasses.asdict(m) for m in rows], as_json, text)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
