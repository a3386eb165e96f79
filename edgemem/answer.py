"""The Answer Agent (Memory-R1): retrieve each speaker's top memories and the raw turns most like the
question, then answer briefly: by default as plain text from "[date] speaker: text" lines, turns first
("plain"); or, as Memory-R1, numbered "[n] timestamp: text" memories of which the model first lists the
ones that matter (memory distillation) in JSON, then the answer ("cited")."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import prompts
from .config import ANSWER_ADAPTERS, MemoryConfig
from .context import build_context
from .embedder import Embedder
from .engine import Engine
from .errors import InvalidInput, ModelOutputError
from .metrics import content_words
from .parsing import parse_answer
from .store import SearchHit, Store
from .unmentioned import NOT_MENTIONED, unmentioned

_REPLY_MARGIN = 16
MAX_SUPPORTING = 3  # context items a plain answer cites


def supporting(answer: str, context: list[SearchHit]) -> list[SearchHit]:
    """What a plain answer cites, having no numbers to cite: the context items (date, speaker and text) that
    share the most content words with the answer, at least one, at most ``MAX_SUPPORTING``, in context
    order. Found by word overlap after the answer, not by the model; none for "Not mentioned"."""
    want = content_words(answer)
    if not want or answer == NOT_MENTIONED:
        return []
    overlaps = [(len(want & content_words(f"{h.time or ''} {AnswerAgent.line_text(h)}")), h) for h in context]
    best = max((n for n, _ in overlaps), default=0)
    return [h for n, h in overlaps if n == best][:MAX_SUPPORTING] if best else []


@dataclass
class Answer:
    """An answer with the memories it was given and the ones it cited (a plain answer: the context lines
    sharing the most of its words, see :func:`supporting`)."""

    question: str
    answer: str
    cited: list[SearchHit] = field(default_factory=list)
    context: list[SearchHit] = field(default_factory=list)  # everything shown to the model, in prompt order
    raw: str = ""
    # Words the question is about that no stored text mentions: then the answer is "Not mentioned" and no
    # model call was made (MemoryConfig.abstain_unmentioned).
    unmentioned: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    search_s: float = 0.0
    llm_s: float = 0.0
    total_s: float = 0.0


@dataclass
class AnswerStep:
    """The answer agent's prompt for one question; ``training/`` builds its examples from it."""

    question: str
    context: list[SearchHit]  # in prompt order (numbered 1.. in the cited format)
    messages: list[dict[str, str]]
    schema: dict[str, Any] | None  # the cited format's JSON schema; None for a plain answer


class AnswerStream:
    """Forwards only the answer text of a streamed ``{"memories": [...], "answer": "..."}`` reply."""

    MARK = '"answer"'

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit, self.buffer, self.start, self.done, self.escaped = emit, "", -1, False, False

    def __call__(self, piece: str) -> None:
        if self.done:
            return
        self.buffer += piece
        if self.start < 0:
            at = self.buffer.find(self.MARK)
            quote = self.buffer.find('"', at + len(self.MARK)) if at >= 0 else -1
            if quote < 0:
                return
            self.start = quote + 1
            piece = self.buffer[self.start :]
        out = []
        for ch in piece:
            if self.escaped:
                out.append({"n": "\n", "t": "\t"}.get(ch, ch))
                self.escaped = False
            elif ch == "\\":
                self.escaped = True
            elif ch == '"':
                self.done = True
                break
            else:
                out.append(ch)
        if out:
            self.emit("".join(out))


class PlainStream:
    """Forwards a streamed plain reply up to the end of its first non-empty line (what is kept)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit, self.started, self.done = emit, False, False

    def __call__(self, piece: str) -> None:
        if self.done:
            return
        if not self.started:
            piece = piece.lstrip()
            self.started = bool(piece)
        if "\n" in piece:
            piece, self.done = piece.split("\n", 1)[0], True
        if piece:
            self.emit(piece)


class AnswerAgent:
    def __init__(self, engine: Engine, embedder: Embedder, store: Store, config: MemoryConfig) -> None:
        self.engine, self.embedder, self.store, self.config = engine, embedder, store, config

    def retrieve(self, user: str, question: str, k: int | None = None) -> list[tuple[str, list[SearchHit]]]:
        """Top ``k`` memories per speaker and the top raw turns (before the memories for a plain answer,
        after them for a cited one), each group in dialogue order; or,
        with ``answer_context="budget"``, one group: the budgeted context of facts and turns."""
        k = self.config.answer_k if k is None else k
        qv = self.embedder.embed_one(question)
        text = question if self.config.search == "hybrid" else None
        if self.config.answer_context == "budget":
            c = build_context(self.store, user, question, qv, self.config.answer_budget_tokens, hybrid=text is not None)
            hits = [
                SearchHit(
                    i.id,
                    i.speaker,
                    i.text if i.kind != "version" else f"(until {i.until}) {i.text}",
                    i.time,
                    i.score,
                    i.kind,
                )
                for i in c.items
            ]
            return [("the conversation (facts and messages, oldest first)", hits)]
        groups = []
        for speaker in self.store.speakers(user):
            hits = self.store.search(user, qv, k, speaker=speaker, text=text)
            groups.append((speaker, sorted(hits, key=lambda h: h.id)))
        if self.config.answer_turns_k > 0:
            turns = self.store.search_turns(user, qv, self.config.answer_turns_k, text=text)
            # the plain answer reads the raw turns first, then the memories (the order measured)
            at = 0 if self.config.answer_format == "plain" else len(groups)
            groups.insert(at, ("the conversation (raw messages)", sorted(turns, key=lambda h: h.id)))
        return groups

    def step(self, question: str, groups: list[tuple[str, list[SearchHit]]], now: str | None = None) -> AnswerStep:
        """Render the prompt (with the time the question is asked, when given), dropping the least similar
        memories until it fits the context."""
        plain = self.config.answer_format == "plain"
        groups = [(s, list(h)) for s, h in groups]
        reply = prompts.PLAIN_ANSWER_MAX_TOKENS if plain else self.config.answer_max_tokens
        budget = self.engine.n_ctx - reply - _REPLY_MARGIN
        while True:
            if plain:
                lines = [self.plain_line(h) for _, hits in groups for h in hits]
                messages = prompts.plain_answer_messages(question, lines, now)
            else:
                messages = prompts.answer_messages(
                    question, [(s, [(h.time, self.line_text(h)) for h in hits]) for s, hits in groups], now
                )
            if self.engine.count_tokens(messages[0]["content"] + messages[1]["content"]) + 32 <= budget:
                break
            candidates = [(h.score, gi, hi) for gi, (_, hits) in enumerate(groups) for hi, h in enumerate(hits)]
            if not candidates:
                raise InvalidInput(
                    f"The question is too long for the model's context ({self.engine.n_ctx} tokens). Fix: shorten it."
                )
            _, gi, hi = min(candidates)
            del groups[gi][1][hi]
        context = [h for _, hits in groups for h in hits]
        return AnswerStep(question, context, messages, None if plain else prompts.ANSWER_SCHEMA_BASE)

    @classmethod
    def plain_line(cls, hit: SearchHit) -> str:
        """A context item as the plain answer reads it: "[date] speaker: text" for a raw turn, "[date] text"
        for a memory."""
        return f"[{hit.time}] {cls.line_text(hit)}" if hit.time else cls.line_text(hit)

    @staticmethod
    def line_text(hit: SearchHit) -> str:
        """A context item's text as the prompt shows it (a raw turn with its speaker)."""
        return f"{hit.speaker}: {hit.text}" if hit.kind == "turn" else hit.text

    def answer(
        self,
        user: str,
        question: str,
        k: int | None = None,
        on_token: Callable[[str], None] | None = None,
        now: str | None = None,
    ) -> Answer:
        """Answer from the memories; ``on_token`` receives the answer text as it is generated; ``now``: when
        the question is asked (shown to the model, not searched for)."""
        if not question or not question.strip():
            raise InvalidInput("The question is empty. Fix: pass a question, e.g. edgemem ask 'Where does Jon live?'")
        t0 = time.perf_counter()
        groups = self.retrieve(user, question.strip(), k)
        step = self.step(question.strip(), groups, now)
        missing = unmentioned(self.store, user, question) if self.config.abstain_unmentioned else []
        t1 = time.perf_counter()
        if missing:
            if on_token is not None:
                on_token(NOT_MENTIONED)
            return Answer(
                question, NOT_MENTIONED, context=step.context, unmentioned=missing, search_s=t1 - t0, total_s=t1 - t0
            )
        if step.schema is None:  # plain: the first line of the reply, with the plain format's adapter if any
            c = self.engine.complete(
                step.messages,
                max_tokens=prompts.PLAIN_ANSWER_MAX_TOKENS,
                prefix_key=ANSWER_ADAPTERS["plain"],  # the adapter's name keys its prompt cache (training.sft too)
                adapter=ANSWER_ADAPTERS["plain"],
                on_text=PlainStream(on_token) if on_token is not None else None,
            )
            text = prompts.first_line(c.text)
            cited = supporting(text, step.context)
        else:
            c = self.engine.complete(
                step.messages,
                schema=step.schema,
                max_tokens=self.config.answer_max_tokens,
                prefix_key=ANSWER_ADAPTERS["cited"],
                adapter=ANSWER_ADAPTERS["cited"],
                on_text=AnswerStream(on_token) if on_token is not None else None,
            )
            try:
                parsed = parse_answer(c.text, len(step.context))
                text, cited = parsed.answer, [step.context[n - 1] for n in parsed.cited]
            except ModelOutputError:
                text, cited = "", []
        return Answer(
            question=question,
            answer=text,
            cited=cited,
            context=step.context,
            raw=c.text,
            prompt_tokens=c.prompt_tokens,
            completion_tokens=c.completion_tokens,
            search_s=t1 - t0,
            llm_s=c.total_s,
            total_s=time.perf_counter() - t0,
        )
