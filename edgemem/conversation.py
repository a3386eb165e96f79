"""Reading conversations to ingest: the standard LoCoMo JSON and a simple JSONL of messages.

JSONL: one message per line, ``{"speaker": "Jon", "text": "...", "time": "8 May 2023 13:56"}``
(``role``/``content`` are accepted for ``speaker``/``text``; ``time`` and ``id`` are optional).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import MemoryConfig
from .errors import InvalidInput
from .store import Turn


@dataclass(frozen=True)
class QA:
    question: str
    answer: str
    category: int
    evidence: list[str]


@dataclass(frozen=True)
class Conversation:
    sample_id: str
    speakers: tuple[str, str]
    turns: list[Turn]
    qa: list[QA]

    @property
    def sessions(self) -> list[str]:
        return list(dict.fromkeys(session_of(t.key) for t in self.turns))


def session_of(dia_id: str) -> str:
    """ "D3:12" -> "D3" (LoCoMo dialogue ids are session:turn)."""
    return dia_id.split(":", 1)[0]


def _load_json(path: Path) -> Any:
    if not path.exists():
        raise InvalidInput(f"Conversation file {path} does not exist.")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InvalidInput(
            f"{path} is not valid JSON ({e}). Fix: pass a LoCoMo JSON file or a .jsonl of messages."
        ) from e


def load_locomo(path: str | Path) -> list[Conversation]:
    """All conversations of a file in the standard LoCoMo (locomo10.json) format."""
    path = Path(path)
    data = _load_json(path)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) and "conversation" in d for d in data):
        raise InvalidInput(
            f"{path} is not in the LoCoMo format (a list of objects with 'sample_id', 'conversation', 'qa')."
        )
    return [_conversation(d, i) for i, d in enumerate(data)]


def _conversation(d: dict[str, Any], index: int) -> Conversation:
    conv = d["conversation"]
    sample_id = str(d.get("sample_id", f"conversation-{index}"))
    speakers = (str(conv.get("speaker_a", "A")), str(conv.get("speaker_b", "B")))
    numbers = sorted(int(m.group(1)) for k in conv if (m := re.fullmatch(r"session_(\d+)", k)))
    turns: list[Turn] = []
    for n in numbers:  # some files list more session_N_date_time keys than sessions: iterate what exists
        when = conv.get(f"session_{n}_date_time")
        for j, t in enumerate(conv[f"session_{n}"]):
            text = str(t.get("text", "")).strip()
            if t.get("blip_caption"):
                text = f"{text} [shares a photo: {t['blip_caption']}]".strip()
            if not text:
                continue
            turns.append(Turn(str(t["speaker"]), text, when, sample_id, str(t.get("dia_id", f"D{n}:{j + 1}"))))
    qa = [
        QA(str(q["question"]), str(q["answer"]), int(q["category"]), [str(e) for e in q.get("evidence", [])])
        for q in d.get("qa", [])
        if "answer" in q and "question" in q
    ]
    return Conversation(sample_id, speakers, turns, qa)


def find_conversation(path: str | Path, sample_id: str | None) -> Conversation:
    convs = load_locomo(path)
    if sample_id is None:
        if len(convs) == 1:
            return convs[0]
        raise InvalidInput(
            f"{path} holds {len(convs)} conversations. Fix: choose one with --conversation "
            f"({', '.join(c.sample_id for c in convs)})."
        )
    for c in convs:
        if c.sample_id == sample_id:
            return c
    raise InvalidInput(f"No conversation {sample_id!r} in {path}. Known: {', '.join(c.sample_id for c in convs)}.")


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


def bank_file(root: Path, conversation: str, config: MemoryConfig, max_sessions: int | None = None) -> Path:
    """Where the bank of one conversation ingested with ``config`` is cached under ``root``.

    The name hashes everything that shapes the bank (model, manager settings, prompt texts, the
    session subset), so changing any of them builds a new bank, while answer settings share one.
    The training data builder and the benchmark use this same name, so they share ingested banks."""
    from . import prompts
    from .manifest import bank_identity, is_manifest

    settings = config.bank_settings()
    if is_manifest(config.model):
        identity = bank_identity(str(config.model))
        settings = {**settings, **{k: v for k, v in identity.items() if v is not None}}
    key = json.dumps(
        [conversation, settings, max_sessions, prompts.EXTRACTION_SYSTEM, prompts.MANAGER_SYSTEM],
        sort_keys=True,
        default=str,
    )
    model = Path(str(settings["model"])).stem[:32] if config.model else "default"
    return root / f"{conversation}-{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.db"
