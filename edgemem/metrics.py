r"""Answer scoring as Memory-R1 / A-Mem define it, shared by the benchmarks and the RL rewards.

Normalisation: lowercase, the punctuation marks . , ! ? become spaces, split on whitespace.
F1 is computed over token *sets*; exact match compares the normalised token sequences.
BLEU-1 (NLTK, smoothing method1) lives in ``benchmarks/`` because it needs nltk.

The word split for *answerability* (does a text hold a content word of the gold answer: training's
``--answerable-only`` filter, the probe reward, SFT targets) is here too: ``words`` / ``content_words``
split on ``\w+``, so "Lisbon's" holds "lisbon". It is not the metric's split and is kept as it is:
the committed training data and rewards were computed with it.
"""

from __future__ import annotations

import re
from typing import Any

_PUNCT = re.compile(r"[.,!?]")


def tokens(text: str) -> list[str]:
    """The normalised tokens of an answer.

    >>> tokens("Lisbon, Portugal!")
    ['lisbon', 'portugal']
    """
    return _PUNCT.sub(" ", str(text).lower()).split()


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when the normalised answers are identical, else 0.0.

    >>> exact_match("Lisbon.", "lisbon")
    1.0
    """
    return float(tokens(prediction) == tokens(gold))


def f1(prediction: str, gold: str) -> float:
    """Token-set F1 between the normalised answers.

    >>> round(f1("in Lisbon, Portugal", "Lisbon"), 3)
    0.5
    """
    p, g = set(tokens(prediction)), set(tokens(gold))
    common = len(p & g)
    if not p or not g or common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


_FILLER = frozenset(
    "a an the and or of in on at to for with by from about is was be it he she they her his their".split()
)


def words(text: Any) -> set[str]:
    r"""The lowercased ``\w+`` words of ``text`` (answerability, not the metric).

    >>> sorted(words("Leo's Berlin-marathon"))
    ['berlin', 'leo', 'marathon', 's']
    """
    return set(re.findall(r"\w+", str(text).lower()))


def content_words(text: Any) -> set[str]:
    """The lowercased words of ``text`` without filler words (a, the, of, ...)."""
    return words(text) - _FILLER
