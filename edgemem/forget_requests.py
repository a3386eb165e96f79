"""Requests to forget ("Please forget that I'm allergic to cats"), recognised before fact extraction.

Left to a 0.5B extractor, such a request is stored as one more fact ("Leo is allergic to cats"): the
user's explicit wish is lost. Rules find it instead: an imperative addressed to the assistant (at the
start of a sentence, after "please", "can you", "I want you to", ...) whose verb is *forget*, or
*delete / erase / remove / wipe / clear / drop / unlearn* with an object that is something said or
known ("that ...", "what I said", "the part about", "my ..."), or a negative *remember / store / save*
("don't remember that ...", "stop remembering ..."). Statements that merely use the words ("I forgot my
keys", "don't forget the party", "I deleted my account") are not requests: their verb has a subject or
a negation in front. Measured on ``benchmarks/data/forget_requests.tsv`` by ``benchmarks.forget_requests``.

>>> forget_request("Please forget that I'm allergic to cats, I'd rather keep it private.")
ForgetRequest(target="I'm allergic to cats")
>>> forget_request("Actually, forget that.")
ForgetRequest(target=None)
>>> forget_request("I forgot my keys") is None
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class ForgetRequest:
    """A request to forget ``target`` (what to forget, as said); None: the speaker's previous message."""

    target: str | None


# What may come before the verb in a sentence addressed to the assistant.
_LEAD = r"(?:(?:hey|hi|ok|okay|oh|um|so|well|and|also|actually|wait|sorry|look)\b[,!]?\s+)*"
_ASK = (
    r"(?:(?:please|pls|kindly|just|now|go ahead and)\s+"
    r"|(?:can|could|would|will)\s+you\s+(?:please\s+|kindly\s+|just\s+)?"
    r"|i(?:'d|\s+would)\s+like\s+you\s+to\s+|i\s+(?:want|need)\s+you\s+to\s+"
    r"|you\s+(?:can|could|should|may|might\s+as\s+well)\s+(?:now\s+|just\s+)?)*"
)
# *forget* as an imperative: not "forget it" (never mind), "forget to", "forget-me-not".
_FORGET = r"forget(?![\w-])(?!\s+(?:it\b(?!\s+all)|to\b|me\b))"
# Other verbs count only with an object that is something said, stored or known.
_ERASE = r"(?:delete|erase|remove|wipe|clear|drop|purge|scrub|discard|unlearn)"
_SAID = (
    r"(?:that\b|this\b|it\s+all\b|everything\b|anything\b|all\b|any\s+(?:memory|mention|record|note)|"
    r"what\s+(?:i|you)\b|the\s+(?:fact|part|bit|thing|note|memory|memories|detail|details|info|information|"
    r"record|stuff|mention)\b|my\b|i\s+(?:said|told|mentioned)\b)"
)
# A negative remember: "don't remember that ...", "stop remembering ...", "no need to remember ...".
_NOT_KEEP = (
    r"(?:(?:do\s+not|don'?t)\s+(?:remember|store|save|keep|record|memorize)"
    r"|stop\s+(?:remembering|storing|saving|keeping)|no\s+need\s+to\s+(?:remember|store|keep)"
    r"|(?:i'?d|i\s+would)\s+rather\s+you\s+(?:didn'?t|did\s+not|don'?t)\s+(?:remember|store|keep)"
    r"|(?:i\s+)?(?:never|don'?t|do\s+not)\s+want\s+you\s+to\s+(?:remember|know|keep|store))\b"
)
_REQUEST = re.compile(
    rf"^{_LEAD}{_ASK}(?:{_FORGET}|{_ERASE}\s+(?={_SAID})|{_NOT_KEEP})|^{_LEAD}would\s+you\s+mind\s+forgetting\b",
    re.IGNORECASE,
)
# Words between the verb and what is to be forgotten.
_FILLER = re.compile(
    r"^(?:(?:about|that|what\s+i\s+(?:said|told\s+you|mentioned)(?:\s+about)?|i\s+(?:said|told\s+you|mentioned)"
    r"|the\s+(?:fact|part|bit|thing|note|memory|detail|info|information|record|mention)s?(?:\s+(?:that|about|of))?"
    r"|(?:any|every)\s+(?:memory|mention|record|note)s?\s+(?:of|about)|everything(?:\s+(?:i\s+said|you\s+know|"
    r"you\s+remember))?(?:\s+about)?|it\s+all(?:\s+about)?|what\s+you\s+(?:know|remember)(?:\s+about)?"
    r"|a\s+(?:record|note)\s+of|track\s+of|in\s+mind)\s*)+",
    re.IGNORECASE,
)
_TAIL = re.compile(
    r"\s*(?:,?\s*please|\s+now|\s+anymore|\s+from\s+(?:your\s+)?(?:memory|notes|records|mind))\s*$", re.IGNORECASE
)
# What points back at the previous message instead of naming a fact.
_BACK = re.compile(
    r"^(?:that|this|it|i\s+said\s+that|(?:that\s+)?last\s+thing(?:\s+i\s+said)?|what\s+i\s+just\s+said)?$", re.I
)


def forget_request(text: str) -> ForgetRequest | None:
    """The request to forget that ``text`` makes, or None when it makes none (see the module docstring)."""
    found: ForgetRequest | None = None
    for sentence in re.split(r"(?<=[.!?;])\s+|\n+", text.replace("\u2019", "'").strip()):
        # Clause by clause: "Please forget, I never want you to remember my weight" names its fact in the second.
        for clause in re.split(r",\s*", sentence.strip()):
            m = _REQUEST.match(clause)
            if m is not None:
                found = ForgetRequest(_target(clause[m.end() :]))
                if found.target is not None:
                    return found
        if found is not None:
            return found
    return None


def _target(rest: str) -> str | None:
    """What is to be forgotten, from the words after the verb: fillers, the clause after a comma and
    trailing "please" left out; None when it only points back ("forget that", "forget I said that")."""
    rest = re.split(r"[,;.!?]", rest.strip(), maxsplit=1)[0].strip()
    rest = _FILLER.sub("", rest).strip()
    while (cut := _TAIL.sub("", rest)) != rest:
        rest = cut
    return None if _BACK.match(rest) else rest
