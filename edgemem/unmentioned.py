"""Questions about things never mentioned: the words a question is about, to look up before answering.

LongMemEval's abstention questions ask about something the user never said, next to something they did:
"What is the name of my hamster?" when only a cat named Luna was mentioned. The retrieval finds the cat,
and a 0.5B answer agent answers "Luna". But a word like "hamster" that appears nowhere in what the user's
store holds is a fact the store can check without a model: if no stored message, memory or earlier
version of a memory contains it, the answer is "Not mentioned", and no model call is made.

A question's *anchor words* are the ones it is about: the word a possessive names ("my hamster", "my
uncle's party", "my 30-gallon tank"; adjectives such as "current" are passed over to the noun) and
capitalised words inside the sentence ("Seattle", "Porsche", "Tom"). Verbs and the rest of the question
are left out: "How many days did I spend..." must not be refused because the history says "stayed".
Month and weekday names are left out too: dates live in a message's time, not in its words. The lists
were set on LongMemEval's development split and checked on its S sample and on LoCoMo's conv-26 and
conv-30 (``benchmarks.unmentioned``, experiments/abstain-unmentioned).

>>> anchor_words("What is the name of my hamster?")
['hamster']
>>> anchor_words("How long have I been living in my current apartment in Shinjuku?")
['apartment', 'shinjuku']
>>> anchor_words("How many days did I spend in total traveling in Hawaii and in Seattle?")
['hawaii', 'seattle']
>>> anchor_words("When did I last go running?")
[]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .store import STOPWORDS

if TYPE_CHECKING:
    from .store import Store

# The answer when an anchor word is nowhere in the store: what the answer agent's prompt asks for when
# its memories do not say (prompts.ANSWER_SYSTEM).
NOT_MENTIONED = "Not mentioned"

_POSSESSIVES = frozenset({"my"})  # "our previous conversation" is about the chat, not a thing
# Words that are no anchor even after a possessive or capitalised: function words, and words whose
# topic is time or order rather than a thing ("my previous job" is about the job).
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "st"})
_SKIP = (
    STOPWORDS
    | _TITLES
    | frozenset(
        """monday tuesday wednesday thursday friday saturday sunday january february march april may june july
    august september october november december current previous recent new old first last favorite
    favourite own two three four five six seven eight nine ten""".split()
    )
)
_TOKEN = re.compile(r"[\w'’-]+|[.?!]")
_POSSESSIVE_S = re.compile(r"['’]s?$")
_PART = re.compile(r"[^\W_]+")  # the parts SQLite FTS5's unicode61 tokenizer makes (letters and digits)


def anchor_words(question: str) -> list[str]:
    """The distinct anchor words of ``question``, lowercased, in order (see the module's docstring)."""
    out: list[str] = []
    after_possessive = False
    previous = "."
    for token in _TOKEN.findall(str(question)):
        if token == "." and previous.lower() in _TITLES:
            continue  # "Dr. Smith": the full stop of a title ends no sentence
        word = _POSSESSIVE_S.sub("", token)
        low = word.lower()
        sentence_start = previous in (".", "?", "!")
        previous = token
        if low in _POSSESSIVES:
            after_possessive = True
            continue
        if low in _SKIP or not _PART.search(low) or low.isdigit() or len(low) < 3:
            continue  # a possessive's adjectives and numbers are passed over to its noun
        if after_possessive or (word[:1].isupper() and not sentence_start):
            if low not in out:
                out.append(low)
        after_possessive = False
    return out


def word_parts(word: str) -> list[str]:
    """The FTS5 prefixes a stored text must hold for ``word`` to count as mentioned: each letter-and-digit
    part, plural endings cut so that "films" finds "film" and "boxes" finds "box" (a prefix also
    finds longer words: more permissive, never less).

    >>> word_parts("30-gallon"), word_parts("films"), word_parts("cities"), word_parts("siac_gee")
    (['30', 'gallon'], ['film'], ['cit'], ['siac', 'gee'])
    """
    parts = []
    for p in _PART.findall(word.lower()):
        if len(p) > 4 and p.endswith("ies"):
            p = p[:-3]
        elif len(p) > 4 and p.endswith("es"):
            p = p[:-2]
        elif len(p) > 4 and p.endswith("s"):
            p = p[:-1]
        parts.append(p)
    return parts


def unmentioned(store: Store, user: str, question: str) -> list[str]:
    """The anchor words of ``question`` that none of ``user``'s visible messages, live memories and versions
    of live memories contain ([] when the question has none, or all are found)."""
    words = anchor_words(question)
    parts = {w: word_parts(w) for w in words}
    missing = store.unfound_prefixes(user, sorted({p for ps in parts.values() for p in ps}))
    return [w for w in words if any(p in missing for p in parts[w])]
