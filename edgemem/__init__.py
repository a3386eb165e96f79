"""edgemem: long-term memory for LLM agents, offline on CPU (Memory-R1 on llama.cpp + sqlite-vec)."""

from .answer import Answer
from .config import MemoryConfig
from .context import Context, ContextItem
from .errors import EdgememError
from .manager import TurnResult
from .memory import IngestResult, Memory
from .store import HistoryEntry, MemoryItem, SearchHit, Turn

__version__ = "0.1.0"

__all__ = [
    "Answer",
    "Context",
    "ContextItem",
    "EdgememError",
    "HistoryEntry",
    "IngestResult",
    "Memory",
    "MemoryConfig",
    "MemoryItem",
    "SearchHit",
    "Turn",
    "TurnResult",
    "__version__",
]
