"""``edgemem serve``: a local HTTP API over one :class:`Memory` (FastAPI; the ``[server]`` extra).

Every route names the user in its path and acts only on that user's rows. A message is stored at once
and answered 202 (its facts are consolidated in the background; ``GET .../status`` shows what is
pending; ``?wait=true`` consolidates first and returns the operations). One model serves all requests:
answers wait their turn in arrival order (FIFO), come before background consolidation, and report how
long they queued. A bearer token is required when the server listens on anything but loopback.
OpenAPI schema: ``/openapi.json``; interactive docs: ``/docs``.
"""

# No `from __future__ import annotations` here: FastAPI reads the request models defined inside
# create_app() from the route signatures at run time.
import dataclasses
import hmac
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .context import DEFAULT_BUDGET_TOKENS
from .errors import (
    DatabaseLocked,
    EdgememError,
    InvalidInput,
    MissingDependency,
    ModelCorrupt,
    ModelNotFound,
    UnknownMemory,
)
from .memory import Memory

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class FairLock:
    """A lock granted in arrival order (threading.Lock makes no such promise)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queue: deque[object] = deque()

    @contextmanager
    def hold(self) -> Iterator[float]:
        """Yields the seconds spent waiting."""
        me, t0 = object(), time.perf_counter()
        with self._cond:
            self._queue.append(me)
            while self._queue[0] is not me:
                self._cond.wait()
        try:
            yield time.perf_counter() - t0
        finally:
            with self._cond:
                self._queue.popleft()
                self._cond.notify_all()


STATUS = {InvalidInput: 400, UnknownMemory: 404, DatabaseLocked: 503, ModelNotFound: 503, ModelCorrupt: 503}


def create_app(memory: Memory, token: str | None = None) -> Any:
    try:
        from fastapi import Depends, FastAPI, HTTPException, Request, Response
        from fastapi.responses import JSONResponse
        from pydantic import BaseModel, Field
    except ImportError as e:
        raise MissingDependency("The HTTP server needs the [server] extra. Fix: pip install 'edgemem[server]'") from e

    app = FastAPI(title="edgemem", version="1", description="Long-term memory for LLM agents, local and offline.")
    model_lock = FairLock()
    memory.start_consolidator()  # a queue left by an interrupted process resumes now

    class Message(BaseModel):
        text: str = Field(min_length=1, max_length=100_000)
        speaker: str = Field(default="user", min_length=1, max_length=200)
        time: str | None = Field(default=None, max_length=200)

    class Messages(BaseModel):
        messages: list[Message] = Field(max_length=500)  # larger batches: several requests (each one queues the model)

    class Question(BaseModel):
        question: str = Field(min_length=1, max_length=10_000)
        k: int | None = Field(default=None, ge=1, le=200)
        now: str | None = Field(default=None, min_length=1, max_length=100)  # when the question is asked

    def authorize(request: Request) -> None:
        if token is None:
            return
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "Missing or wrong bearer token.", headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(EdgememError)
    async def edgemem_error(request: Request, exc: EdgememError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 500)
        return JSONResponse({"error": type(exc).__name__, "detail": str(exc)}, status_code=status)

    def out(obj: Any, queued_s: float | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "result": [dataclasses.asdict(o) for o in obj] if isinstance(obj, list) else dataclasses.asdict(obj)
        }
        if queued_s is not None:
            data["queue_s"] = queued_s
        return data

    auth = [Depends(authorize)]

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "db": str(memory.path)}

    @app.post("/v1/users/{user}/messages", dependencies=auth, status_code=202)
    def add(user: str, m: Message, response: Response, wait: bool = False) -> dict[str, Any]:
        """Remember one message: stored and searchable at once (202, with its turn id); fact extraction and
        the Memory Manager run in the background. ``wait=true``: consolidated first (200, with operations)."""
        if not wait:
            return out(memory.add(m.text, speaker=m.speaker, time=m.time, user=user))
        response.status_code = 200
        with model_lock.hold() as waited:
            return out(memory.add(m.text, speaker=m.speaker, time=m.time, user=user, wait=True), waited)

    @app.post("/v1/users/{user}/ingest", dependencies=auth, status_code=202)
    def ingest(user: str, body: Messages, response: Response, wait: bool = False) -> dict[str, Any]:
        """Remember many messages in order (stored at once, 202; ``wait=true``: consolidated first, 200)."""
        from .store import Turn

        turns = [Turn(m.speaker, m.text, m.time) for m in body.messages]
        if not wait:
            r = memory.ingest(turns, user=user, wait=False)
            return {"result": {"stored": r.stored, "skipped": r.skipped, "pending": r.pending}}
        response.status_code = 200
        with model_lock.hold() as waited:
            r = memory.ingest(turns, user=user)
        return {
            "result": {"stored": r.stored, "processed": r.processed, "skipped": r.skipped, "seconds": r.seconds},
            "queue_s": waited,
        }

    @app.get("/v1/users/{user}/status", dependencies=auth)
    def status(user: str) -> dict[str, Any]:
        """The user's counts, with ``pending`` (messages not consolidated yet) and what the consolidator does."""
        c = memory.consolidator
        return {
            "result": {
                **memory.stats(user=user),
                "consolidating": c.busy_with is not None,
                "consolidator_running": c.running,
                "last_error": c.last_error,
            }
        }

    @app.get("/v1/users/{user}/search", dependencies=auth)
    def search(user: str, q: str, k: int = 10, speaker: str | None = None) -> dict[str, Any]:
        """Memories most similar to q (no LLM: does not queue)."""
        return out(memory.search(q, max(1, min(k, 200)), speaker=speaker, user=user))

    @app.get("/v1/users/{user}/context", dependencies=auth)
    def context(user: str, q: str, budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> dict[str, Any]:
        """The facts and raw messages that best match q, cut at budget_tokens, in dialogue order, with the
        rendered block a host's own model can read (no LLM: does not queue)."""
        return out(memory.context(q, budget_tokens=budget_tokens, user=user))

    @app.post("/v1/users/{user}/answer", dependencies=auth)
    def answer(user: str, body: Question) -> dict[str, Any]:
        """Answer a question from the user's memories (Answer Agent)."""
        with model_lock.hold() as waited:
            return out(memory.answer(body.question, k=body.k, user=user, now=body.now), waited)

    @app.post("/v1/users/{user}/answer/stream", dependencies=auth)
    def answer_stream(user: str, body: Question) -> Any:
        """The answer as it is generated: NDJSON lines {"token": "..."}, then {"result": ..., "queue_s": ...}
        (or {"error": ..., "detail": ...})."""
        import json
        import queue

        from fastapi.responses import StreamingResponse

        events: queue.Queue[dict[str, Any] | None] = queue.Queue()

        def work() -> None:
            try:
                with model_lock.hold() as waited:
                    a = memory.answer(
                        body.question, k=body.k, user=user, now=body.now, on_token=lambda t: events.put({"token": t})
                    )
                events.put({"result": dataclasses.asdict(a), "queue_s": waited})
            except EdgememError as e:
                events.put({"error": type(e).__name__, "detail": str(e)})
            finally:
                events.put(None)

        threading.Thread(target=work, daemon=True).start()

        def lines() -> Iterator[str]:
            while (event := events.get()) is not None:
                yield json.dumps(event, ensure_ascii=False) + "\n"

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    @app.get("/v1/users/{user}/memories", dependencies=auth)
    def memories(user: str, speaker: str | None = None, include_deleted: bool = False) -> dict[str, Any]:
        return out(memory.memories(speaker=speaker, include_deleted=include_deleted, user=user))

    @app.get("/v1/users/{user}/history", dependencies=auth)
    def history(user: str, memory_id: int | None = None, limit: int = 100) -> dict[str, Any]:
        return out(memory.history(memory_id, limit=max(1, min(limit, 10_000)), user=user))

    @app.delete("/v1/users/{user}/memories/{memory_id}", dependencies=auth)
    def forget(user: str, memory_id: int) -> dict[str, Any]:
        """Delete a memory (soft; restorable)."""
        return out(memory.forget(memory_id, user=user))

    @app.post("/v1/users/{user}/memories/{memory_id}/restore", dependencies=auth)
    def restore(user: str, memory_id: int) -> dict[str, Any]:
        return out(memory.restore(memory_id, user=user))

    @app.get("/v1/users/{user}/export", dependencies=auth)
    def export_memories(user: str) -> dict[str, Any]:
        """The user's messages, memories and history as JSON."""
        return {"result": memory.export_memories(user=user)}

    @app.post("/v1/users/{user}/import", dependencies=auth)
    def import_memories(user: str, data: dict[str, Any]) -> dict[str, Any]:
        """Add an export to the user."""
        return {"result": memory.import_memories(data, user=user)}

    @app.delete("/v1/users/{user}", dependencies=auth)
    def reset(user: str) -> dict[str, Any]:
        """Remove everything stored for the user."""
        return {"result": {"removed_memories": memory.reset(user=user)}}

    return app


def serve(memory: Memory, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    if host not in LOOPBACK and not token:
        raise InvalidInput(
            f"Listening on {host} exposes the memories to the network. Fix: pass --token (or EDGEMEM_TOKEN), or bind 127.0.0.1."
        )
    try:
        import uvicorn
    except ImportError as e:
        raise MissingDependency("The HTTP server needs the [server] extra. Fix: pip install 'edgemem[server]'") from e
    uvicorn.run(create_app(memory, token), host=host, port=port, log_level="warning")
