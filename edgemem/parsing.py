"""Parsing of the agents' outputs. Shared by the runtime, the training rewards and the benchmarks.

Nothing here trusts the model: every value is checked, and anything that does not name a valid
target comes back as a :class:`Rejected` entry (recorded in history, never applied).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ModelOutputError
from .prompts import EVENTS, MAX_FACTS

MAX_MEMORY_CHARS = 1000
_ALIASES = {"NONE": "NOOP", "NO_OP": "NOOP", "NOP": "NOOP", "REMOVE": "DELETE", "CREATE": "ADD", "INSERT": "ADD"}
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_ANSWER_MARK = re.compile(r"\*\*\s*answer\s*:?\s*\*\*\s*:?(.*)", re.I | re.S)


@dataclass(frozen=True)
class Operation:
    """One valid manager operation, with ``ref`` still the id *as shown* to the model ("0", "1", ...)."""

    event: str
    ref: str | None = None
    text: str | None = None
    fact: str | None = None


@dataclass(frozen=True)
class Rejected:
    """An entry of the model's output that was not applied, and why."""

    raw: Any
    reason: str


@dataclass
class ParsedOperations:
    ops: list[Operation] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def parse_json_object(text: str) -> dict[str, Any]:
    """The first JSON object in ``text`` (code fences and chatter around it are tolerated)."""
    if not isinstance(text, str) or not text.strip():
        raise ModelOutputError("The model returned an empty output where JSON was expected.")
    fenced = _FENCE.search(text)
    candidate = fenced.group(1) if fenced else text
    start = candidate.find("{")
    if start < 0:
        raise ModelOutputError(f"No JSON object in model output: {text[:120]!r}")
    try:
        obj, _ = json.JSONDecoder().raw_decode(candidate[start:])
    except json.JSONDecodeError as e:
        raise ModelOutputError(f"Malformed JSON in model output ({e.msg}): {text[:120]!r}") from e
    if not isinstance(obj, dict):
        raise ModelOutputError(f"Expected a JSON object, got {type(obj).__name__}: {text[:120]!r}")
    return obj


def parse_facts(text: str) -> list[str]:
    """Facts from the extraction output ``{"facts": [...]}``; non-strings and blanks are dropped."""
    return _fact_list(parse_json_object(text).get("facts", []), '"facts"')


def parse_batch_facts(text: str, n_messages: int) -> list[list[str]]:
    """Facts per message from a batch extraction output ``{"1": [...], "2": [...], ...}``.

    >>> parse_batch_facts('{"1": [], "2": ["Ana teaches yoga", 3]}', 2)
    [[], ['Ana teaches yoga']]

    Raises:
        ModelOutputError: not a JSON object, or a message's key missing or not a list (the caller then
        extracts the messages one by one).
    """
    obj = parse_json_object(text)
    out = []
    for n in range(1, n_messages + 1):
        if str(n) not in obj:
            raise ModelOutputError(f"Batch extraction output has no key {str(n)!r}: {text[:120]!r}")
        out.append(_fact_list(obj[str(n)], f'"{n}"'))
    return out


def _fact_list(facts: Any, name: str) -> list[str]:
    """Distinct non-blank strings of ``facts`` (cut to the stored length), at most ``MAX_FACTS``."""
    if not isinstance(facts, list):
        raise ModelOutputError(f"{name} must be a list, got {type(facts).__name__}")
    out: list[str] = []
    for f in facts:
        if isinstance(f, str) and f.strip() and f.strip() not in out:
            out.append(f.strip()[:MAX_MEMORY_CHARS])
    return out[:MAX_FACTS]


def parse_operations(text: str, n_memories: int, facts: list[str] | None = None) -> ParsedOperations:
    """Manager output ``{"memory": [{"id", "text", "event"}, ...]}`` → valid operations + rejections.

    Args:
        text: the raw model output.
        n_memories: how many memories were shown (valid ids are "0" .. str(n_memories - 1)).
        facts: the facts the output answers, in order (for the record only).
    Raises:
        ModelOutputError: the output is not a JSON object with a "memory" list at all.
    """
    obj = parse_json_object(text)
    entries = obj.get("memory")
    if not isinstance(entries, list):
        raise ModelOutputError(f'Manager output has no "memory" list: {text[:120]!r}')
    facts = facts or []
    parsed = ParsedOperations()
    touched: set[str] = set()
    for i, raw in enumerate(entries):
        op, reason = _check_entry(raw, n_memories, facts[i] if i < len(facts) else None)
        _keep(parsed, touched, raw, op, reason)
    return parsed


_OP_LINE = re.compile(r"^(ADD|UPDATE|DELETE|NOOP|NONE)\b[\s:]*(.*)$", re.I)


def parse_operation_lines(text: str, n_memories: int, facts: list[str]) -> ParsedOperations:
    """The manager's reply as lines (``prompts.manager_lines_grammar``): one line per fact, in order,
    "ADD" (the fact is stored as written), "UPDATE <id> <text>", "DELETE <id>" or "NOOP <id>" → valid
    operations + rejections, each checked as a JSON entry is (:func:`parse_operations`). Never raises: a
    line that is no operation, or one past the last fact, is a :class:`Rejected`.

    >>> p = parse_operation_lines("UPDATE 0 Sam lives in Rome\\nADD\\nDELETE 7", 2, ["Sam moved", "Sam plays chess", "x"])
    >>> [(o.event, o.ref, o.text) for o in p.ops], [r.reason for r in p.rejected]
    ([('UPDATE', '0', 'Sam lives in Rome'), ('ADD', None, 'Sam plays chess')], ["DELETE names unknown id '7' (ids shown: 0..1)"])
    """
    parsed = ParsedOperations()
    touched: set[str] = set()
    lines = [ln.strip() for ln in (text or "").splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if i >= len(facts):
            parsed.rejected.append(Rejected(line[:MAX_MEMORY_CHARS], f"more lines than facts ({len(facts)})"))
            continue
        m = _OP_LINE.match(line)
        if m is None:
            parsed.rejected.append(
                Rejected(line[:MAX_MEMORY_CHARS], "not an operation line (ADD, UPDATE, DELETE, NOOP)")
            )
            continue
        event, rest = m.group(1).upper(), m.group(2).strip()
        raw: dict[str, Any] = {"event": "NOOP" if event == "NONE" else event}
        if event == "ADD":
            raw["text"] = rest or None  # none: the fact as written
        elif rest:
            ref, _, said = rest.partition(" ")
            raw["id"] = ref.rstrip(":.")
            if event == "UPDATE":
                raw["text"] = said.strip() or None
        op, reason = _check_entry(raw, n_memories, facts[i])
        _keep(parsed, touched, line[:MAX_MEMORY_CHARS], op, reason)
    return parsed


def _keep(parsed: ParsedOperations, touched: set[str], record: Any, op: Operation | None, reason: str) -> None:
    """Add a checked entry to ``parsed``: the operation, or ``record`` rejected with its reason. Why the
    ``touched`` set: two UPDATEs (or an UPDATE and a DELETE) of one memory in one reply would leave the
    memory to whichever ran last, so only the first change of an id counts."""
    changes = op.ref if op is not None and op.event != "NOOP" else None
    if changes is not None and changes in touched:
        op, reason = None, f"id {changes} was already changed by this output"
    if op is None:
        parsed.rejected.append(Rejected(record, reason))
        return
    if changes is not None:
        touched.add(changes)
    parsed.ops.append(op)


def _check_entry(raw: Any, n_memories: int, fact: str | None) -> tuple[Operation | None, str]:
    if not isinstance(raw, dict):
        return None, f"entry is a {type(raw).__name__}, not an object"
    event = raw.get("event")
    if not isinstance(event, str):
        return None, "missing or non-string event"
    event = _ALIASES.get(event.strip().upper(), event.strip().upper())
    if event not in EVENTS:
        return None, f"unknown event {raw.get('event')!r} (expected one of {', '.join(EVENTS)})"
    ref = raw.get("id")
    if isinstance(ref, bool) or (ref is not None and not isinstance(ref, (str, int))):
        return None, f"id must be a string, got {type(ref).__name__}"
    ref = None if ref is None else str(ref).strip()
    valid_ref = ref is not None and ref.isdigit() and int(ref) < n_memories and str(int(ref)) == ref
    text = raw.get("text")
    if text is not None and not isinstance(text, str):
        return None, f"text must be a string, got {type(text).__name__}"
    text = text.strip() if text else None
    if text and len(text) > MAX_MEMORY_CHARS:
        return None, f"text is {len(text)} characters (limit {MAX_MEMORY_CHARS})"
    if event == "ADD":
        text = text or fact  # an ADD by fact number (prompts.manager_system) stores its fact as written
        if not text:
            return None, "ADD without text"
        return Operation("ADD", None, text, fact), ""
    if event in ("UPDATE", "DELETE") or ref is not None:
        if not valid_ref:
            shown = f"0..{n_memories - 1}" if n_memories else "none"
            return None, f"{event} names unknown id {ref!r} (ids shown: {shown})"
    if event == "UPDATE" and not text:
        return None, "UPDATE without text"
    return Operation(event, ref, text if event == "UPDATE" else None, fact), ""


@dataclass(frozen=True)
class ParsedAnswer:
    answer: str
    cited: list[int]  # memory numbers as shown (1-based), only those that exist


def parse_answer(text: str, n_memories: int) -> ParsedAnswer:
    """The answer agent's output: JSON ``{"memories": [...], "answer": "..."}``, or Memory-R1's
    free-text form "...list of memories... **Answer:** short answer"."""
    cited: list[int] = []
    answer: str | None = None
    try:
        obj = parse_json_object(text)
        if isinstance(obj.get("answer"), (str, int, float)) and not isinstance(obj.get("answer"), bool):
            answer = str(obj["answer"]).strip()
        mems = obj.get("memories", [])
        if isinstance(mems, list):
            for m in mems:
                if isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= n_memories and m not in cited:
                    cited.append(m)
    except ModelOutputError:
        pass
    if answer is None:
        mark = _ANSWER_MARK.search(text or "")
        if mark:
            answer = mark.group(1).strip()
            cited = [
                int(n)
                for n in dict.fromkeys(re.findall(r"\[(\d+)\]", text[: mark.start()]))
                if 1 <= int(n) <= n_memories
            ]
        else:
            answer = (text or "").strip().splitlines()[0].strip() if (text or "").strip() else ""
    if not answer:
        raise ModelOutputError(f"No answer in model output: {text[:120]!r}")
    return ParsedAnswer(answer, cited)
