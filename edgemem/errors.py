"""The one error hierarchy of edgemem.

Every message is meant to be shown to a person as it is: it names the bad value and says what to do.
The CLI prints ``str(error)`` and exits with ``error.exit_code``; no traceback.
"""

from __future__ import annotations


class EdgememError(Exception):
    """Base class: anything edgemem raises on purpose."""

    exit_code = 1


class InvalidInput(EdgememError):
    """A value given by the caller cannot be used (empty message, unknown user, bad file format...)."""

    exit_code = 2


class ModelNotFound(EdgememError):
    """A model name or path does not resolve to an installed file."""

    exit_code = 3


class ModelCorrupt(EdgememError):
    """A model file exists but is damaged (wrong checksum, not a GGUF/ONNX file, llama.cpp refused it)."""

    exit_code = 3


class MissingDependency(EdgememError):
    """An optional dependency (an extra) is needed for this feature."""

    exit_code = 3


class DatabaseError(EdgememError):
    """The memory database cannot be opened or used."""

    exit_code = 4


class DatabaseLocked(DatabaseError):
    """Another process holds the write lock longer than the busy timeout."""


class DatabaseCorrupt(DatabaseError):
    """The file is not a SQLite database, or it fails its integrity check."""


class SchemaTooNew(DatabaseError):
    """The database was written by a newer edgemem than this one."""


class ExtensionUnavailable(DatabaseError):
    """sqlite-vec cannot be loaded into any available SQLite."""


class UnknownMemory(EdgememError):
    """A memory id that does not exist (or belongs to another user)."""

    exit_code = 2


class ModelOutputError(EdgememError):
    """A model's output could not be parsed. Callers record it; it never changes stored memories."""
