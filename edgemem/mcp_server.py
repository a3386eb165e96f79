"""``edgemem mcp``: a Model Context Protocol server over stdio (the official ``mcp`` SDK), so an
MCP-capable desktop assistant can use edgemem with one line of configuration.

Tools: remember (store a message), recall (the budgeted context of facts and messages), answer (Answer Agent), forget
(delete one memory; restorable from history).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from .context import DEFAULT_BUDGET_TOKENS, MAX_BUDGET_TOKENS
from .errors import MissingDependency
from .memory import Memory


def build_server(memory: Memory) -> Any:
    try:
        from mcp.server.mcpserver import MCPServer
    except ImportError as e:
        raise MissingDependency("The MCP server needs the [server] extra. Fix: pip install 'edgemem[server]'") from e

    server: Any = MCPServer(
        "edgemem", instructions="Long-term memory: remember facts from the conversation and recall them later."
    )

    @server.tool()
    def remember(text: str, speaker: str = "user", time: str | None = None) -> dict[str, Any]:
        """Store a message in long-term memory. Returns at once: the message can be recalled now, and its
        facts are extracted into memories in the background."""
        r = memory.add(text, speaker=speaker, time=time)
        return {"turn_id": r.turn_id, "pending": r.pending}

    @server.tool()
    def recall(query: str, budget_tokens: int = DEFAULT_BUDGET_TOKENS) -> dict[str, Any]:
        """What is remembered about the query: stored facts and past messages, most relevant first up to
        budget_tokens, in dialogue order with their dates; "text" is the block to read."""
        c = memory.context(query, budget_tokens=max(1, min(budget_tokens, MAX_BUDGET_TOKENS)))
        return {
            "text": c.text,
            "tokens": c.tokens,
            "items": [dataclasses.asdict(i) for i in c.items],
            "unmentioned": c.unmentioned,
        }

    @server.tool()
    def answer(question: str, now: str | None = None) -> dict[str, Any]:
        """Answer a question from the stored memories, with the memories it used; ``now``: today's date
        (e.g. "28 May 2023"), for questions such as "how long ago". "unmentioned": the question's words
        nothing stored mentions (the answer is then "Not mentioned")."""
        a = memory.answer(question, now=now)
        return {"answer": a.answer, "cited": [c.text for c in a.cited], "unmentioned": a.unmentioned}

    @server.tool()
    def forget(memory_id: int) -> dict[str, Any]:
        """Delete one memory by id (it stays in the history and can be restored)."""
        return dataclasses.asdict(memory.forget(memory_id))

    return server


def run_stdio(memory: Memory) -> None:
    memory.start_consolidator()  # a queue left by an interrupted process resumes now
    build_server(memory).run("stdio")
