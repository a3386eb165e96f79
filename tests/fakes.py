"""Deterministic fakes for unit tests of parsing and control flow."""

from __future__ import annotations

import json
from typing import Any

from edgemem.engine import Completion


class ScriptedEngine:
    """A fake LLM: returns queued replies in order and records every call in ``history``."""

    model_id = "scripted"

    def __init__(self, replies: list[Any] | None = None, n_ctx: int = 4096) -> None:
        self.replies: list[str] = []
        self.history: list[dict[str, Any]] = []
        self.n_ctx = n_ctx
        self.enqueue(*(replies or []))

    def enqueue(self, *replies: Any) -> None:
        self.replies += [r if isinstance(r, str) else json.dumps(r) for r in replies]

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        self.history.append({"messages": messages, **kwargs})
        if not self.replies:
            raise AssertionError(f"ScriptedEngine: no reply queued for call {len(self.history)}")
        text = self.replies.pop(0)
        return Completion(text, 10, 5, 0, 0.0, 0.0, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
