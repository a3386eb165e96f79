"""The admission gate: messages with nothing to remember skip fact extraction (MemRouter's idea, by rules).

A message says something memorable about its writer when it speaks of the writer ("I", "my", "we", ...)
or is long enough to carry news. Short messages in the second or third person alone are reactions,
compliments and questions to the other speaker ("Wow! What got you into running?", "That's cool, Jon!"):
a 0.5B extractor still turns each into one to three "facts" ("Gina thinks running is cool"), which cost
two model calls and crowd the bank. The raw turn is stored and searchable either way; only its
distillation into facts is skipped. The rule and its threshold were chosen on conv-26 (LoCoMo's training
conversation) by how many question-evidence messages it would skip, and measured on conv-30 by
``benchmarks.admission``.

>>> worth_extracting("Wow! What got you into running?")
False
>>> worth_extracting("I quit my job at the bakery last month.")
True
"""

from __future__ import annotations

import re

_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|me|my|mine|myself|we|we're|we've|we'd|we'll|our|ours|us)\b", re.I)
_WORD = re.compile(r"[\w']+")
MIN_WORDS = 20  # a message this long is admitted even without a first-person word


def worth_extracting(text: str) -> bool:
    """False for a message that has no first-person word and fewer than ``MIN_WORDS`` words."""
    return bool(_FIRST_PERSON.search(text)) or len(_WORD.findall(text)) >= MIN_WORDS
