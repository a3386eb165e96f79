"""Reading conversations to ingest: a simple JSONL of messages, or one conversation of a LoCoMo file.

JSONL: one message per line, ``{"speaker": "Jon", "text": "...", "time": "8 May 2023 13:56"}``
(``role``/``content`` are accepted for ``speaker``/``text``; ``time`` and ``id`` are optional).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from .errors import InvalidInput
from .locomo import find_conversation
from .store import Turn


def read_jsonl(path: str | Path) -> Iterator[Turn]:
    path = Path(path)
    if not path.exists():
        raise InvalidInput(f"Messages file {path} does not exist.")
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                m = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(f"{path}:{n} is not valid JSON ({e.msg}). Fix that line.") from e
            speaker = m.get("speaker", m.get("role")) if isinstance(m, dict) else None
            text = m.get("text", m.get("content")) if isinstance(m, dict) else None
            if not isinstance(speaker, str) or not isinstance(text, str):
                raise InvalidInput(f'{path}:{n} needs "speaker" and "text" strings, got {line.strip()[:80]}')
            yield Turn(speaker, text, m.get("time"), path.name, str(m.get("id", n)))


def load_turns(path: str | Path, conversation: str | None = None) -> tuple[str, list[Turn]]:
    """(source id, turns) from a LoCoMo JSON or a JSONL file, chosen by the file's extension."""
    p = Path(path)
    if p.suffix == ".jsonl":
        turns = list(read_jsonl(p))
        return p.name, turns
    conv = find_conversation(p, conversation)
    return conv.sample_id, conv.turns
