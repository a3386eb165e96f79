"""LoCoMo: where its file is, its conversations, the part of one a run keeps, the questions it
scores, and the cached memory bank of a conversation. One implementation for the benchmarks
(``benchmarks.locomo``, ``benchmarks.latency``) and the training data (``training.data``).

The data file is never shipped: pass it (``--data``), or set ``EDGEMEM_LOCOMO``; a source checkout
next to the project's shared data finds ``../shared/data/locomo/locomo_dev.json`` as a fallback.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import MemoryConfig
from .errors import InvalidInput
from .store import Turn

if TYPE_CHECKING:
    from .memory import IngestResult, Memory

ENV_VAR = "EDGEMEM_LOCOMO"
# a source checkout beside the project's shared data (../shared/data/locomo/locomo_dev.json)
FALLBACK = Path(__file__).resolve().parents[2] / "shared" / "data" / "locomo" / "locomo_dev.json"


def locomo_path(data: str | os.PathLike[str] | None = None) -> Path:
    """The LoCoMo file to read: ``data`` when given, else ``$EDGEMEM_LOCOMO``, else the fallback.

    Only the path is resolved here; a file that does not exist is reported when it is read, naming
    where the path came from and the fix."""
    if data is not None and str(data) != "":
        return Path(data)
    env = os.environ.get(ENV_VAR)
    return Path(env) if env else FALLBACK


def require_locomo(data: str | os.PathLike[str] | None = None) -> Path:
    """:func:`locomo_path`, checked to exist (the error says which setting gave the path)."""
    path = locomo_path(data)
    if not path.exists():
        source = "--data" if data else (f"${ENV_VAR}" if os.environ.get(ENV_VAR) else "the fallback")
        raise InvalidInput(
            f"LoCoMo file {path} (from {source}) does not exist. Fix: pass --data FILE or set {ENV_VAR}=FILE "
            "to a file in the LoCoMo format (locomo10.json)."
        )
    return path


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


def kept_turns(conv: Conversation, max_sessions: int | None = None) -> list[Turn]:
    """The turns of the first ``max_sessions`` sessions (all turns when None or 0)."""
    if not max_sessions:
        return conv.turns
    keep = set(conv.sessions[:max_sessions])
    return [t for t in conv.turns if session_of(t.key) in keep]


def scored_questions(conv: Conversation) -> list[QA]:
    """The questions that are scored (Memory-R1 excludes the adversarial category 5)."""
    return [q for q in conv.qa if q.category != 5]


def select(conv: Conversation, max_sessions: int | None = None) -> tuple[list[Turn], list[QA]]:
    """What a run over ``conv`` reads: the turns of its first ``max_sessions`` sessions and the scored
    questions answerable from them (all evidence among those turns). Without ``max_sessions``: every
    turn and every scored question, even one whose evidence names a turn the file lacks."""
    turns = kept_turns(conv, max_sessions)
    if not max_sessions:
        return turns, scored_questions(conv)
    kept = {t.key for t in turns}
    return turns, [q for q in scored_questions(conv) if all(e in kept for e in q.evidence)]


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
    texts = [prompts.EXTRACTION_SYSTEM, prompts.MANAGER_SYSTEM]
    if config.extract_batch != 1:  # only then, so the banks built before batching keep their names
        texts.append(prompts.EXTRACTION_BATCH_SYSTEM)
    if config.manager_lines:
        texts.append(prompts.MANAGER_LINES_SYSTEM)
    key = json.dumps([conversation, settings, max_sessions, *texts], sort_keys=True, default=str)
    model = Path(str(settings["model"])).stem[:32] if config.model else "default"
    return root / f"{conversation}-{model}-{hashlib.sha256(key.encode()).hexdigest()[:12]}.db"


def build_bank(
    root: Path,
    conv: Conversation,
    config: MemoryConfig,
    max_sessions: int | None = None,
    *,
    engine: Any = None,
    embedder: Any = None,
    on_turn: Callable[[Any], None] | None = None,
) -> tuple[Memory, IngestResult]:
    """Open the cached bank of ``conv`` (under ``root``, named by :func:`bank_file`) and ingest its kept
    turns: cached turns are skipped, so an interrupted build continues. The caller closes the Memory."""
    from .memory import Memory

    mem = Memory(
        bank_file(root, conv.sample_id, config, max_sessions),
        user=conv.sample_id,
        config=config,
        engine=engine,
        embedder=embedder,
    )
    try:
        result = mem.ingest(kept_turns(conv, max_sessions), on_turn=on_turn)
    except BaseException:
        mem.close()
        raise
    return mem, result
