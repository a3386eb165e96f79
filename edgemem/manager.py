"""The Memory Manager (Memory-R1): extract facts from a new message, show each fact's most related
memories to the model with short ids, and apply the ADD / UPDATE / DELETE / NOOP it chooses.

The model never sees a real row id: ids "0", "1", ... index a lookup table built for this call, so a
hallucinated id can only miss (and is recorded as REJECTED), never hit another row.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import prompts
from .admission import worth_extracting
from .config import MemoryConfig
from .dates import resolve_relative_dates
from .embedder import Embedder
from .engine import Completion, Engine
from .errors import ModelOutputError
from .forget_requests import ForgetRequest, forget_request
from .parsing import ParsedOperations, parse_batch_facts, parse_facts, parse_operation_lines, parse_operations
from .store import HistoryEntry, PlannedOp, SearchHit, Store, Turn

EXTRACT_MAX_TOKENS = 64 * prompts.MAX_FACTS
MANAGE_MAX_TOKENS_PER_FACT = 80
# A request to forget deletes the speaker's memories at least this similar to what it names, and within
# FORGET_MARGIN of the best match (so "forget my phone number" takes the number, not every contact detail).
FORGET_MIN_SCORE, FORGET_MARGIN = 0.5, 0.1
ADMISSION_SKIP = "admission gate: nothing to remember (no first-person word, a short message): not extracted"
RAW_ONLY = "kept as a raw turn only (its speaker is in raw_only_speakers): not extracted"


@dataclass
class TurnResult:
    """What happened to one message."""

    speaker: str
    text: str
    turn_id: int | None = None
    skipped: bool = False  # already ingested earlier (resume)
    pending: bool = False  # stored and searchable, not consolidated yet (``Memory.add`` without wait)
    facts: list[str] = field(default_factory=list)
    operations: list[HistoryEntry] = field(default_factory=list)  # what was recorded for this turn
    warnings: list[str] = field(default_factory=list)
    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extract_s: float = 0.0
    manage_s: float = 0.0
    total_s: float = 0.0

    def _count(self, c: Completion) -> None:
        self.llm_calls += 1
        self.prompt_tokens += c.prompt_tokens
        self.completion_tokens += c.completion_tokens


@dataclass
class Decision:
    """What the manager decided for one turn, not applied yet."""

    result: TurnResult
    planned: list[PlannedOp]
    forget: bool = False  # the turn asked to forget: it is hidden with what it deletes


@dataclass
class Extraction:
    """The facts extracted from one message, before the manager sees them."""

    facts: list[str]
    completion: Completion | None = None  # the model call (for a batch: on its first message only)
    error: str | None = None  # the output could not be read (recorded as REJECTED, facts empty)


@dataclass
class ManagerStep:
    """The manager's view of one turn: the prompt it was given and what it maps back to.
    ``training/`` builds its examples from the same object."""

    facts: list[str]
    shown: list[SearchHit]  # shown[i] is presented as id str(i)
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None  # the JSON reply's schema, None for a line reply
    grammar: str | None = None  # the line reply's GBNF (MemoryConfig.manager_lines), None for JSON


class MemoryManager:
    def __init__(self, engine: Engine, embedder: Embedder, store: Store, config: MemoryConfig) -> None:
        self.engine, self.embedder, self.store, self.config = engine, embedder, store, config

    # -- the steps, usable one by one (training builds examples from them) ---------------------------

    def extraction_messages(self, turn: Turn, previous: Turn | None) -> list[dict[str, str]]:
        prev = (previous.speaker, previous.text) if previous is not None and self.config.context_messages > 0 else None
        return prompts.extraction_messages(turn.speaker, turn.text, turn.time, prev)

    def related(self, user: str, speaker: str, fact_vectors: np.ndarray) -> list[SearchHit]:
        """Top-k related memories of ``speaker`` for each fact, merged (first appearance wins)."""
        shown: dict[int, SearchHit] = {}
        for v in fact_vectors:
            for hit in self.store.search(user, v, self.config.manager_k, speaker=speaker):
                shown.setdefault(hit.id, hit)
        return list(shown.values())

    def has_related(self, user: str, speaker: str, fact_vectors: np.ndarray) -> list[bool]:
        """For each fact, whether a memory of ``speaker`` is at least ``relatedness_guard`` similar to it."""
        guard = self.config.relatedness_guard
        return [any(h.score >= guard for h in self.store.search(user, v, 1, speaker=speaker)) for v in fact_vectors]

    def step(self, user: str, turn: Turn, facts: list[str], fact_vectors: np.ndarray) -> ManagerStep:
        shown = self.related(user, turn.speaker, fact_vectors)
        texts = [h.text for h in shown]
        if self.config.manager_lines:
            messages = prompts.manager_lines_messages(facts, texts, turn.time)
            return ManagerStep(facts, shown, messages, None, prompts.manager_lines_grammar(len(shown), len(facts)))
        by_number = self.config.manager_add_by_number
        messages = prompts.manager_messages(facts, texts, turn.time, by_number)
        return ManagerStep(facts, shown, messages, prompts.manager_schema(len(shown), len(facts), by_number))

    def plan(self, step: ManagerStep, parsed: ParsedOperations, fact_vectors: np.ndarray) -> list[PlannedOp]:
        """Turn parsed operations into row operations: map shown ids back to rows, attach vectors, and
        apply the guards — a duplicate ADD becomes NOOP, an UPDATE of an unrelated memory becomes ADD,
        a DELETE unrelated to its fact or over the per-turn cap is REJECTED (all recorded in history)."""
        planned: list[PlannedOp] = []
        fact_vec = {f: fact_vectors[i] for i, f in enumerate(step.facts)}
        to_embed = [op.text for op in parsed.ops if op.text is not None and op.text not in fact_vec]
        extra = dict(zip(to_embed, self.embedder.embed(to_embed), strict=False)) if to_embed else {}
        known_texts = {h.text.strip().lower(): h.id for h in step.shown}
        stored = self.store.vectors([h.id for h in step.shown])
        guard = self.config.relatedness_guard
        deletes = 0
        for op in parsed.ops:
            memory_id = step.shown[int(op.ref)].id if op.ref is not None else None
            vector = None
            if op.text is not None and op.event in ("ADD", "UPDATE"):
                vector = fact_vec.get(op.text, extra.get(op.text))
            if op.event == "ADD" and op.text is not None and op.text.strip().lower() in known_texts:
                # The same text is already stored: a duplicate, not new information.
                planned.append(PlannedOp("NOOP", known_texts[op.text.strip().lower()], None, None, "duplicate ADD"))
                continue
            if op.event == "UPDATE" and guard > 0 and memory_id in stored and vector is not None:
                sim = float(np.dot(vector, stored[memory_id]))
                if sim < guard:
                    detail = f"UPDATE of unrelated memory {memory_id} (similarity {sim:.2f} < {guard}) kept as ADD"
                    planned.append(PlannedOp("ADD", None, op.text, vector, detail))
                    continue
            if op.event == "DELETE":
                about = fact_vec.get(op.fact) if op.fact is not None else None
                if guard > 0 and memory_id in stored and about is not None:
                    sim = float(np.dot(about, stored[memory_id]))
                    if sim < guard:
                        detail = f"DELETE of memory {memory_id} unrelated to its fact (similarity {sim:.2f} < {guard})"
                        planned.append(PlannedOp("REJECTED", memory_id, None, None, detail))
                        continue
                deletes += 1
                if deletes > self.config.max_deletes_per_turn:
                    detail = f"over the per-turn deletion cap ({self.config.max_deletes_per_turn})"
                    planned.append(PlannedOp("REJECTED", memory_id, None, None, detail))
                    continue
            planned.append(
                PlannedOp(op.event, memory_id, op.text if op.event in ("ADD", "UPDATE") else None, vector, op.fact)
            )
        if self.config.manager_keep_shifted_facts:
            planned = self._keep_shifted_facts(planned, parsed, fact_vec, known_texts)
        for rej in parsed.rejected:
            raw = rej.raw if isinstance(rej.raw, (dict, list, str, int, float)) else repr(rej.raw)
            planned.append(
                PlannedOp("REJECTED", None, None, None, json.dumps({"reason": rej.reason, "output": raw})[:2000])
            )
        return planned

    @staticmethod
    def _keep_shifted_facts(
        planned: list[PlannedOp], parsed: ParsedOperations, fact_vec: dict[str, np.ndarray], known: dict[str, int]
    ) -> list[PlannedOp]:
        """``MemoryConfig.manager_keep_shifted_facts``: a second ADD of a text this turn already writes is a
        NOOP, and a fact left out by a shifted operation list (its slot wrote another fact of the turn, no
        operation wrote it) is ADDed as extracted, unless a shown memory holds the same text."""
        facts = {f.strip().lower() for f in fact_vec}
        written: set[str] = set()
        kept: list[PlannedOp] = []
        for p in planned:
            key = (p.text or "").strip().lower()
            if p.op == "ADD" and key in written:
                kept.append(PlannedOp("NOOP", None, None, None, "duplicate ADD in the same turn"))
                continue
            if p.op in ("ADD", "UPDATE") and key:
                written.add(key)
            kept.append(p)
        for op in parsed.ops:
            if op.event not in ("ADD", "UPDATE") or op.fact is None or op.text is None:
                continue
            fact, text = op.fact.strip().lower(), op.text.strip().lower()
            if text != fact and text in facts and fact not in written and fact not in known:
                kept.append(
                    PlannedOp("ADD", None, op.fact, fact_vec[op.fact], "fact left out by a shifted operation list")
                )
                written.add(fact)
        return kept

    # -- fact extraction ------------------------------------------------------------------------------

    def needs_extraction(self, turn: Turn) -> bool:
        """Whether ``decide`` would ask the model for this message's facts (not a request to forget, not a
        speaker kept raw only, not skipped by the admission gate)."""
        return forget_request(turn.text) is None and self.not_extracted(turn) is None

    def not_extracted(self, turn: Turn) -> str | None:
        """Why a message that is no request to forget gets no extraction call (recorded as its NOOP), or None."""
        if self.config.raw_only(turn.speaker):
            return RAW_ONLY
        if self.config.admission_gate and not worth_extracting(turn.text):
            return ADMISSION_SKIP
        return None

    def extract(self, turn: Turn, previous: Turn | None) -> Extraction:
        """The facts of one message: one model call."""
        c = self.engine.complete(
            self.extraction_messages(turn, previous),
            schema=prompts.EXTRACTION_SCHEMA,
            max_tokens=EXTRACT_MAX_TOKENS,
            prefix_key="extract",
            adapter="manager",
        )
        try:
            return Extraction(parse_facts(c.text), c)
        except ModelOutputError as e:
            return Extraction([], c, str(e))

    def extract_batch(self, turns: Sequence[Turn]) -> list[Extraction] | None:
        """The facts of several messages of one session in one model call, one Extraction per message
        (the call is counted on the first). None when the output cannot be read: the caller then
        extracts the messages one by one, so a bad batch costs a call but loses no fact."""
        c = self.engine.complete(
            prompts.extraction_batch_messages([(t.speaker, t.text) for t in turns], turns[0].time),
            schema=prompts.extraction_batch_schema(len(turns)),
            max_tokens=EXTRACT_MAX_TOKENS * len(turns),
            prefix_key="extract-batch",
            adapter="manager",
        )
        try:
            facts = parse_batch_facts(c.text, len(turns))
        except ModelOutputError:
            return None
        return [Extraction(f, c if i == 0 else None) for i, f in enumerate(facts)]

    # -- a request to forget ---------------------------------------------------------------------------

    def forget_ops(self, user: str, turn: Turn, turn_id: int | None, request: ForgetRequest) -> list[PlannedOp]:
        """DELETEs for a request to forget: the memories of the speaker's previous message when it names
        nothing ("forget that"), else the speaker's memories most similar to what it names; capped per turn."""
        what = request.target or "the previous message"
        detail = f"request to forget: {what}"
        if request.target is None:
            targets = self.store.last_memories(user, turn.speaker, turn_id)
        else:
            vector = self.embedder.embed_one(third_person(request.target, turn.speaker))
            hits = self.store.search(user, vector, self.config.manager_k, speaker=turn.speaker)
            best = hits[0].score if hits else 0.0
            floor = max(FORGET_MIN_SCORE, best - FORGET_MARGIN)
            targets = [self.store.get(user, h.id) for h in hits if h.score >= floor]
        if not targets:
            return [PlannedOp("NOOP", None, None, None, f"{detail} (no memory of {turn.speaker} matches)")]
        cap = self.config.max_deletes_per_turn
        return [
            PlannedOp("DELETE", m.id, None, None, detail)
            if i < cap
            else PlannedOp("REJECTED", m.id, None, None, f"over the per-turn deletion cap ({cap})")
            for i, m in enumerate(targets)
        ]

    # -- the whole turn ------------------------------------------------------------------------------

    def decide(
        self,
        user: str,
        turn: Turn,
        previous: Turn | None = None,
        *,
        turn_id: int | None = None,
        stopped: Callable[[], bool] | None = None,
        extraction: Extraction | None = None,
    ) -> Decision | None:
        """Extract and decide for one message, without writing: a request to forget goes to the DELETE
        path with no model call; with the admission gate on, a message with nothing to remember is
        recorded as one NOOP with no model call; otherwise extraction (or the given ``extraction``, made
        with other messages of a batch), then (when there are facts) the manager.
        ``stopped`` is asked between the two model calls: True abandons the turn (None is returned)."""
        t0 = time.perf_counter()
        result = TurnResult(turn.speaker, turn.text, turn_id=turn_id)
        request = forget_request(turn.text)
        if request is not None:
            deletes = self.forget_ops(user, turn, turn_id, request)
            result.total_s = time.perf_counter() - t0
            return Decision(result, deletes, forget=True)
        skipped = self.not_extracted(turn)
        if skipped is not None:
            result.total_s = time.perf_counter() - t0
            return Decision(result, [PlannedOp("NOOP", None, None, None, skipped)])
        if extraction is None:
            extraction = self.extract(turn, previous)
        if extraction.completion is not None:
            result._count(extraction.completion)
            result.extract_s = extraction.completion.total_s
        planned: list[PlannedOp] = []
        if extraction.error is not None:
            planned.append(PlannedOp("REJECTED", None, None, None, f"extraction: {extraction.error}"))
            result.warnings.append(extraction.error)
        facts = extraction.facts
        if self.config.resolve_dates:  # "yesterday" said on 8 May 2023 is stored as "on 7 May 2023"
            facts = [resolve_relative_dates(f, turn.time) for f in facts]
        result.facts = facts
        fact_vectors = self.embedder.embed(facts)  # the turn's own vector was stored with it by ``add``
        asked, asked_vectors = facts, fact_vectors
        if facts and self.config.manager_only_when_related and self.config.relatedness_guard > 0:
            related = self.has_related(user, turn.speaker, fact_vectors)
            for fact, vector, rel in zip(facts, fact_vectors, related, strict=True):
                if not rel:  # nothing it could UPDATE or DELETE: the manager could only ADD it
                    planned.append(PlannedOp("ADD", None, fact, vector, "no related memory: added without the manager"))
            asked = [f for f, rel in zip(facts, related, strict=True) if rel]
            asked_vectors = fact_vectors[np.asarray(related, dtype=bool)]
        if asked:  # no facts (or none with a related memory), no manager call (the per-turn budget)
            if stopped is not None and stopped():
                return None
            step = self.step(user, turn, asked, asked_vectors)
            parsed, error = self.operations(step, result)
            if error is not None:
                planned.append(PlannedOp("REJECTED", None, None, None, f"manager: {error}"))
                result.warnings.append(error)
            planned += self.plan(step, parsed, asked_vectors)
        result.total_s = time.perf_counter() - t0
        return Decision(result, planned)

    def operations(self, step: ManagerStep, result: TurnResult) -> tuple[ParsedOperations, str | None]:
        """The manager's operations for ``step``: one model call, counted in ``result``, and the error when a
        JSON reply cannot be read at all. A line reply with no memory shown makes no call: "ADD" is then the
        only line its grammar allows."""
        lines = step.grammar is not None
        if lines and not step.shown:
            return parse_operation_lines("\n".join("ADD" for _ in step.facts), 0, step.facts), None
        c = self.engine.complete(
            step.messages,
            schema=step.schema,
            grammar=step.grammar,
            max_tokens=MANAGE_MAX_TOKENS_PER_FACT * len(step.facts) + 16,
            prefix_key="manage-lines" if lines else "manage",
            adapter="manager",
        )
        result._count(c)
        result.manage_s = c.total_s
        if lines:
            return parse_operation_lines(c.text, len(step.shown), step.facts), None
        try:
            return parse_operations(c.text, len(step.shown), step.facts), None
        except ModelOutputError as e:
            return ParsedOperations(), str(e)

    def finish(self, user: str, result: TurnResult, t0: float) -> TurnResult:
        """Fill in what was recorded for the applied turn, and raise its warnings."""
        assert result.turn_id is not None
        result.operations = self.store.turn_history(user, result.turn_id)
        for w in result.warnings:
            warnings.warn(w, stacklevel=3)
        result.total_s = time.perf_counter() - t0
        return result


def third_person(text: str, speaker: str) -> str:
    """``text`` said by ``speaker`` in the words memories are stored in ("my number" -> "Sam's number").

    >>> third_person("I'm allergic to my cat, I think", "Leo")
    "Leo is allergic to Leo's cat, Leo think"
    """
    for pattern, repl in (
        (r"\bI'?m\b|\bI am\b", f"{speaker} is"),
        (r"\bI'?ve\b", f"{speaker} has"),
        (r"\bI'?d\b", f"{speaker} would"),
        (r"\b(?:my|mine)\b", f"{speaker}'s"),
        (r"\b(?:I|me|myself)\b", speaker),
    ):
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    return text
