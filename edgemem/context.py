"""One budgeted context for a question: stored facts and raw turns ranked together, cut at a token
budget, shown in dialogue order with their dates. ``Memory.context`` returns it to a host assistant
that answers with its own model (also over HTTP and as the MCP ``recall`` tool).

Why both: a fact the manager extracted is short and already attributed, a raw turn keeps what the
extraction dropped; plain retrieval over raw turns is a strong baseline on its own. A fact and the turn
it was extracted from say the same thing, so once one of them is in the context the other is not spent.
What an UPDATE overwrote is a third kind of item, marked with the time it stopped being current
("until 5 June 2025: ..."), so questions about the past still find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from .errors import InvalidInput
from .store import SearchHit, Store, fuse

# Tokens are estimated, not counted: the host's model and tokenizer are unknown here, and loading the
# LLM only to count would cost what a host calls this to avoid. ~4 characters a token is the usual
# figure for English with BPE tokenizers (Qwen's counted about 3.7 on LoCoMo turns).
CHARS_PER_TOKEN = 4
MAX_BUDGET_TOKENS = 32_000
DEFAULT_BUDGET_TOKENS = 600


def estimate_tokens(text: str) -> int:
    """About how many tokens ``text`` is for an LLM (rounded up).

    >>> estimate_tokens("Leo lives in Berlin.")
    5
    """
    return max(1, -(-len(text) // CHARS_PER_TOKEN))


@dataclass(frozen=True)
class ContextItem:
    """A fact (``kind="memory"``) or a raw message (``kind="turn"``) chosen for the context."""

    kind: str  # "memory", "turn", or "version" (a memory's text before an UPDATE)
    id: int
    speaker: str
    text: str
    time: str | None
    score: float  # cosine similarity to the question
    turn_id: int | None  # its place in the dialogue: the turn's id, the turn a fact came from, or (a
    # version) the turn that superseded it
    tokens: int
    until: str | None = None  # a version: when it stopped being current

    @property
    def line(self) -> str:
        when = f"[{self.time}] " if self.time else ""
        if self.kind == "turn":
            return f"- {when}{self.speaker} said: {self.text}"
        if self.kind == "version":
            return f"- {when}until {self.until or 'a later message'}: {self.text}"
        return f"- {when}{self.text}"


@dataclass
class Context:
    """What ``Memory.context`` returns: the chosen items in dialogue order and the rendered block."""

    question: str
    items: list[ContextItem] = field(default_factory=list)
    text: str = ""
    tokens: int = 0
    budget_tokens: int = DEFAULT_BUDGET_TOKENS
    unmentioned: list[str] = field(default_factory=list)  # words of the question nothing stored mentions


def check_budget(budget_tokens: Any) -> int:
    if isinstance(budget_tokens, bool) or not isinstance(budget_tokens, int) or budget_tokens < 1:
        raise InvalidInput(f"budget_tokens must be a whole number of tokens ≥ 1, got {budget_tokens!r}. Fix: e.g. 600.")
    if budget_tokens > MAX_BUDGET_TOKENS:
        raise InvalidInput(
            f"budget_tokens {budget_tokens} is more than {MAX_BUDGET_TOKENS}. Fix: pass a smaller budget."
        )
    return budget_tokens


def build_context(
    store: Store, user: str, question: str, vector: Any, budget_tokens: int, *, hybrid: bool = True
) -> Context:
    """Facts and turns of ``user`` for ``question`` (embedded as ``vector``), most relevant first until
    the estimated tokens of the rendered lines reach ``budget_tokens``; then put in dialogue order."""
    budget_tokens = check_budget(budget_tokens)
    text = question if hybrid else None
    # candidates: enough of each kind to fill the budget with short lines (~15 tokens each)
    pool = min(200, max(10, budget_tokens // 15))
    memories = store.search(user, vector, pool, text=text)
    turns = store.search_turns(user, vector, pool, text=text)
    versions = store.search_versions(user, vector, pool, text=text)
    sources = store.source_turns([h.id for h in memories])
    superseded = store.version_turns([h.id for h in versions])
    hits: dict[tuple[str, int], SearchHit] = {("memory", h.id): h for h in memories}
    hits.update({("turn", h.id): h for h in turns})
    hits.update({("version", h.id): h for h in versions})
    order = fuse(
        [("memory", h.id) for h in memories], [("turn", h.id) for h in turns], [("version", h.id) for h in versions]
    )
    chosen: list[ContextItem] = []
    spent_turns: set[int] = set()  # turns present in the context, as themselves or as a fact from them
    used = 0
    for key in order:
        hit = hits[key]
        if hit.kind == "version":  # an older state of a fact: placed where it was superseded, never deduplicated
            item = ContextItem(
                hit.kind, hit.id, hit.speaker, hit.text, hit.time, hit.score, superseded.get(hit.id), 0, hit.until
            )
            cost = estimate_tokens(item.line) + 1
            if used + cost <= budget_tokens:
                chosen.append(replace(item, tokens=cost))
                used += cost
            continue
        turn_id = hit.id if hit.kind == "turn" else sources.get(hit.id)
        if turn_id is not None and turn_id in spent_turns:
            continue
        item = ContextItem(hit.kind, hit.id, hit.speaker, hit.text, hit.time, hit.score, turn_id, 0)
        cost = estimate_tokens(item.line) + 1  # + the line break
        if used + cost > budget_tokens:
            continue  # a shorter one further down may still fit
        chosen.append(replace(item, tokens=cost))
        used += cost
        if turn_id is not None:
            spent_turns.add(turn_id)
    order_of = {"version": 0, "turn": 1, "memory": 2}  # at one place: the old state, the message, the fact
    chosen.sort(key=lambda c: (c.turn_id if c.turn_id is not None else 0, order_of[c.kind], c.id))
    rendered = "\n".join(c.line for c in chosen)
    return Context(question, chosen, rendered, sum(c.tokens for c in chosen), budget_tokens)
