"""The Answer Agent (Memory-R1): retrieve each speaker's top memories, render them "timestamp: text",
let the model list the ones that matter (memory distillation), then parse its short answer."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import prompts
from .config import MemoryConfig
from .context import build_context
from .embedder import Embedder
from .engine import Engine
from .errors import InvalidInput, ModelOutputError
from .parsing import parse_answer
from .store import SearchHit, Store
from .unmentioned import NOT_MENTIONED, unmentioned

_REPLY_MARGIN = 16


@dataclass
class Answer:
    """An answer with the memories it was given and the ones it cited."""

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
    context: list[SearchHit]  # numbered 1.. in this order
    messages: list[dict[str, str]]
    schema: dict[str, Any]


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


class AnswerAgent:
    def __init__(self, engine: Engine, embedder: Embedder, store: Store, config: MemoryConfig) -> None:
        self.engine, self.embedder, self.store, self.config = engine, embedder, store, config

    def retrieve(self, user: str, question: str, k: int | None = None) -> list[tuple[str, list[SearchHit]]]:
        """Top ``k`` memories per speaker (plus raw turns when configured), each group in dialogue order; or,
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
            groups.append(("the conversation (raw messages)", sorted(turns, key=lambda h: h.id)))
        return groups

    def step(self, question: str, groups: list[tuple[str, list[SearchHit]]], now: str | None = None) -> AnswerStep:
        """Render the prompt (with the time the question is asked, when given), dropping the least similar
        memories until it fits the context."""
        groups = [(s, list(h)) for s, h in groups]
        budget = self.engine.n_ctx - self.config.answer_max_tokens - _REPLY_MARGIN
        while True:
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
        return AnswerStep(question, context, messages, prompts.ANSWER_SCHEMA_BASE)

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
        c = self.engine.complete(
            step.messages,
            schema=step.schema,
            max_tokens=self.config.answer_max_tokens,
            prefix_key="answer",
            adapter="answer",
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
