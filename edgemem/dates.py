"""Relative time in a fact, resolved against the time of the message it came from, when it is stored.

"I went hiking yesterday", said on 8 May 2023, is stored as "... on 7 May 2023": a question asked weeks
later ("When did Leo go hiking?") is then answered from the fact itself, and the small model is never
asked to do date arithmetic. Deterministic rules, a table, no model: an expression the table does not
know ("recently", "back then") stays as it was, and so does a fact whose message has no readable date.

Message times are read in the forms LoCoMo and users write them: "1:56 pm on 8 May, 2023", "8 May 2023",
"May 8, 2023", "2023-05-08".
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from datetime import date, timedelta

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7}
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))


def parse_when(when: str | None) -> date | None:
    """The calendar day of a message time, or None when it has none that can be read.

    >>> parse_when("1:56 pm on 8 May, 2023"), parse_when("May 8, 2023"), parse_when("2023-05-08")
    (datetime.date(2023, 5, 8), datetime.date(2023, 5, 8), datetime.date(2023, 5, 8))
    >>> parse_when("sometime") is None
    True
    """
    if not when:
        return None
    text = str(when).lower()
    for pattern, order in (
        (r"(\d{4})-(\d{1,2})-(\d{1,2})", "ymd"),
        (rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH})\.?,?\s+(\d{{4}})", "dmy"),
        (rf"({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", "mdy"),
    ):
        m = re.search(pattern, text)
        if not m:
            continue
        parts = dict(zip(order, m.groups(), strict=True))
        month = int(parts["m"]) if parts["m"].isdigit() else MONTHS[parts["m"]]
        try:
            return date(int(parts["y"]), month, int(parts["d"]))
        except ValueError:
            return None
    return None


def day(d: date) -> str:
    """A day as LoCoMo's answers write it.

    >>> day(date(2023, 5, 7))
    '7 May 2023'
    """
    return f"{d.day} {calendar.month_name[d.month]} {d.year}"


def month(d: date, shift: int) -> str:
    index = d.year * 12 + d.month - 1 + shift
    return f"{calendar.month_name[index % 12 + 1]} {index // 12}"


def _weekday(d: date, name: str, direction: int) -> date:
    """The nearest ``name`` day strictly before (direction -1) or after (+1) ``d``."""
    target = WEEKDAYS[name]
    step = timedelta(days=direction)
    cur = d + step
    while cur.weekday() != target:
        cur += step
    return cur


def _count(word: str) -> int:
    return int(word) if word.isdigit() else NUMBERS[word]


_N = r"(\d+|a|an|one|two|three|four|five|six|seven)"
_DAY = "|".join(WEEKDAYS)

# (pattern, resolution): each pattern is matched as whole words, case-insensitively, in this order.
RULES: list[tuple[str, Callable[[re.Match[str], date], str]]] = [
    (r"the day before yesterday", lambda m, d: f"on {day(d - timedelta(days=2))}"),
    (r"the day after tomorrow", lambda m, d: f"on {day(d + timedelta(days=2))}"),
    (r"yesterday", lambda m, d: f"on {day(d - timedelta(days=1))}"),
    (r"tomorrow", lambda m, d: f"on {day(d + timedelta(days=1))}"),
    (r"today|tonight|this morning|this afternoon|this evening", lambda m, d: f"on {day(d)}"),
    (rf"{_N} days? ago", lambda m, d: f"on {day(d - timedelta(days=_count(m.group(1).lower())))}"),
    (rf"{_N} weeks? ago", lambda m, d: f"the week of {day(d - timedelta(weeks=_count(m.group(1).lower())))}"),
    (rf"{_N} months? ago", lambda m, d: f"in {month(d, -_count(m.group(1).lower()))}"),
    (rf"{_N} years? ago", lambda m, d: f"in {d.year - _count(m.group(1).lower())}"),
    (r"last weekend", lambda m, d: f"the weekend before {day(d)}"),
    (r"this weekend", lambda m, d: f"the weekend of {day(d)}"),
    (r"next weekend", lambda m, d: f"the weekend after {day(d)}"),
    (r"last week", lambda m, d: f"the week before {day(d)}"),
    (r"this week", lambda m, d: f"the week of {day(d)}"),
    (r"next week", lambda m, d: f"the week after {day(d)}"),
    (r"last month", lambda m, d: f"in {month(d, -1)}"),
    (r"this month", lambda m, d: f"in {month(d, 0)}"),
    (r"next month", lambda m, d: f"in {month(d, 1)}"),
    (r"last year", lambda m, d: f"in {d.year - 1}"),
    (r"this year", lambda m, d: f"in {d.year}"),
    (r"next year", lambda m, d: f"in {d.year + 1}"),
    (rf"last ({_DAY})", lambda m, d: f"on {m.group(1).capitalize()}, {day(_weekday(d, m.group(1).lower(), -1))}"),
    (rf"next ({_DAY})", lambda m, d: f"on {m.group(1).capitalize()}, {day(_weekday(d, m.group(1).lower(), +1))}"),
]
_COMPILED = [(re.compile(rf"\b(?:{p})\b", re.IGNORECASE), fn) for p, fn in RULES]


def resolve_relative_dates(text: str, when: str | None) -> str:
    """``text`` with each relative time expression replaced by the date it meant when said at ``when``.

    >>> resolve_relative_dates("Leo went hiking yesterday.", "1:56 pm on 8 May, 2023")
    'Leo went hiking on 7 May 2023.'
    >>> resolve_relative_dates("Leo went hiking yesterday.", None)
    'Leo went hiking yesterday.'
    """
    base = parse_when(when)
    if base is None:
        return text
    for pattern, resolve in _COMPILED:
        text = pattern.sub(lambda m, r=resolve: r(m, base), text)  # type: ignore[misc]
    # "on on 7 May" / "in in June" where the speaker already wrote the preposition
    return re.sub(r"\b(on|in) \1\b", r"\1", text)
