"""Reading the training examples that ``training.data`` writes, and rendering their prompts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.metrics import content_words, words


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InvalidInput(
            f"{path} does not exist. Fix: build the data first: python -m training.data --out {path.parent}"
        )
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(
                    f"{path}:{n} is not JSON ({e.msg}). Fix: rebuild it with python -m training.data"
                ) from e
            if not isinstance(row, dict) or "messages" not in row or "answer" not in row:
                raise InvalidInput(f"{path}:{n} is not a training example (needs 'messages' and 'answer').")
            rows.append(row)
    if not rows:
        raise InvalidInput(f"{path} holds no examples.")
    return rows


def answerable(example: dict[str, Any]) -> bool:
    """Whether an answer example's prompt contains at least one content word of its gold answer.

    >>> ex = {"answer": "The Berlin marathon", "messages": [{"role": "user", "content": "[1] Leo: Berlin, in May"}]}
    >>> answerable(ex), answerable({**ex, "answer": "the Rome one"})
    (True, False)
    """
    gold = content_words(example["answer"])
    return bool(gold & words(" ".join(m["content"] for m in example["messages"] if m["role"] != "system")))


def render_prompt(tokenizer: Any, messages: str | list[dict[str, str]]) -> str:
    """The prompt text a chat model continues: a final assistant message (a forced start of the
    reply) is continued, otherwise a new assistant turn is opened. Text is already rendered."""
    if isinstance(messages, str):
        return messages
    if messages and messages[-1]["role"] == "assistant":
        return str(tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True))
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
