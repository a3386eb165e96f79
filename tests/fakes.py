"""Deterministic fakes for unit tests of parsing and control flow."""

from __future__ import annotations

import json
import re
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


class EchoEngine:
    """A fake LLM that answers from the prompt itself, so its replies do not depend on call order
    (for tests with several threads): each message is one fact, each fact is ADDed, and the answer
    is the first memory shown (cited format) or the first excerpt line (plain format)."""

    model_id = "echo"
    n_ctx = 4096

    def __init__(self) -> None:
        self._facts: list[list[str]] = []  # what extraction returned, per message: each manager call ADDs the next

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        user = messages[-1]["content"]
        if kwargs.get("prefix_key") == "extract":
            # The prompt ends "NEW MESSAGE by <speaker>: <text>\nFacts about <speaker>:" (any characters inside).
            head, speaker = user.rsplit("\nFacts about ", 1)
            speaker = speaker[:-1]
            text = head.split(f"NEW MESSAGE by {speaker}: ", 1)[1]
            self._facts = [[f"{speaker} said: {text}"[:900]]]
            reply: Any = {"facts": self._facts[0]}
        elif kwargs.get("prefix_key") == "extract-batch":
            # One line "MESSAGE <n> by <speaker>: <text>" per message (messages of one line each).
            said = re.findall(r"^MESSAGE (\d+) by ([^:]+): (.*)$", user, flags=re.MULTILINE)
            self._facts = [[f"{speaker} said: {text}"[:900]] for _, speaker, text in said]
            reply = {n: facts for (n, _, _), facts in zip(said, self._facts, strict=True)}
        elif kwargs.get("prefix_key") == "manage":
            reply = {"memory": [{"event": "ADD", "text": f} for f in self._facts.pop(0)]}
        elif kwargs.get("prefix_key") == "answer-plain":
            lines = user.split("Conversation excerpts:\n", 1)[1].split("\n\n", 1)[0] if "excerpts:" in user else ""
            reply = (lines.split("\n")[0] or "Not mentioned") + "\nextra lines are not the answer"
        else:
            first = next((ln for ln in user.split("\n") if ln.startswith("[1]")), "Not mentioned")
            reply = {"memories": [1] if first.startswith("[1]") else [], "answer": first}
        text = reply if isinstance(reply, str) else json.dumps(reply)
        if kwargs.get("on_text") is not None:
            for i in range(0, len(text), 7):  # streamed in small pieces, like tokens
                kwargs["on_text"](text[i : i + 7])
        return Completion(text, 10, 5, 0, 0.0, 0.0, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class RecordingEngine(EchoEngine):
    """EchoEngine that keeps every prompt it was sent, per agent (prefix_key)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: dict[str, list[list[dict[str, str]]]] = {}

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        self.sent.setdefault(kwargs.get("prefix_key") or "", []).append(messages)
        return super().complete(messages, **kwargs)


class LivesInEngine:
    """A frozen 'answer agent' for reward tests: answers with the place of the first memory that
    says "<someone> lives in <place>", else "Not mentioned"."""

    model_id = "lives-in"
    n_ctx = 4096

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        answer = "Not mentioned"
        for line in messages[-1]["content"].splitlines():
            if " lives in " in line:
                answer = line.split(" lives in ", 1)[1].strip()
                break
        return Completion(json.dumps({"memories": [], "answer": answer}), 10, 5, 0, 0.0, 0.0, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())


class WindowEngine:
    """A frozen answer agent and untrained manager for the windowed reward: the manager ADDs every fact
    it is shown; the answer is the rest of the first memory line holding the question's verb ("lives in"
    for where, "drinks" for what), else "Not mentioned". Counts its calls."""

    model_id = "window"
    n_ctx = 4096

    def __init__(self) -> None:
        self.calls: list[str] = []

    def complete(self, messages: list[dict[str, str]], **kwargs: Any) -> Completion:
        user = messages[-1]["content"]
        self.calls.append(kwargs.get("prefix_key") or "")
        if kwargs.get("prefix_key") == "manage":
            facts = [line.split(". ", 1)[1] for line in user.split("New facts", 1)[1].splitlines()[1:] if ". " in line]
            text = json.dumps({"memory": [{"event": "ADD", "text": f} for f in facts]})
        else:
            question = user.rsplit("Question: ", 1)[1]
            verb = " lives in " if question.startswith("Where") else " drinks "
            found = [line.split(verb, 1)[1].strip() for line in user.splitlines() if verb in line]
            text = json.dumps({"memories": [], "answer": found[0] if found else "Not mentioned"})
        return Completion(text, 10, 5, 0, 0.0, 0.0, 0.0)

    def count_tokens(self, text: str) -> int:
        return len(text.split())
