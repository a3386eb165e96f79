"""Answer-side variants of the plain answer context, run through the LoCoMo harness on cached banks.

    PYTHONPATH=. python experiments/answer-facts-placement/run.py VARIANT [benchmarks.locomo arguments]

VARIANT: ``facts-first`` (the speakers' memories before the raw turns, so the turns sit next to the
question), ``new-facts-only`` (the top memories of each speaker whose source turn is not among the raw
turns shown: a fact restating a shown turn is left out) or ``turns-best-last`` (the raw turns in search
order reversed, the best match last, instead of dialogue order; the facts after them as today). The harness records neither in its settings:
give each variant its own ``--out``.
"""

from __future__ import annotations

import sys
from typing import Any

from benchmarks import locomo
from edgemem.answer import AnswerAgent
from edgemem.store import SearchHit

TURNS = "the conversation (raw messages)"
_retrieve = AnswerAgent.retrieve


def facts_first(self: AnswerAgent, user: str, question: str, k: int | None = None) -> Any:
    groups = _retrieve(self, user, question, k)
    return [g for g in groups if g[0] != TURNS] + [g for g in groups if g[0] == TURNS]


def new_facts_only(self: AnswerAgent, user: str, question: str, k: int | None = None) -> Any:
    k = self.config.answer_k if k is None else k
    groups = _retrieve(self, user, question, 0)  # the raw turns, and each speaker with no memory yet
    shown = {h.id for name, hits in groups if name == TURNS for h in hits}
    qv = self.embedder.embed_one(question)
    text = question if self.config.search == "hybrid" else None
    out: list[tuple[str, list[SearchHit]]] = []
    for name, hits in groups:
        if name != TURNS:
            ranked = self.store.search(user, qv, 4 * k, speaker=name, text=text)
            source = self.store.source_turns([h.id for h in ranked])
            hits = sorted([h for h in ranked if source.get(h.id) not in shown][:k], key=lambda h: h.id)
        out.append((name, hits))
    return out


def turns_best_last(self: AnswerAgent, user: str, question: str, k: int | None = None) -> Any:
    groups = _retrieve(self, user, question, k)
    qv = self.embedder.embed_one(question)
    text = question if self.config.search == "hybrid" else None
    ranked = self.store.search_turns(user, qv, self.config.answer_turns_k, text=text)
    return [(name, ranked[::-1] if name == TURNS else hits) for name, hits in groups]


VARIANTS = {"facts-first": facts_first, "new-facts-only": new_facts_only, "turns-best-last": turns_best_last}

if __name__ == "__main__":
    variant = sys.argv[1]
    if variant not in VARIANTS:
        raise SystemExit(f"Unknown variant {variant!r}. Fix: one of {', '.join(VARIANTS)}.")
    AnswerAgent.retrieve = VARIANTS[variant]  # type: ignore[method-assign]
    locomo.main(sys.argv[2:])
