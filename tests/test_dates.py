"""Relative dates resolved at write, by a rule table: hand-checked cases. Run: .venv/bin/pytest tests/test_dates.py"""

import doctest

import pytest

from edgemem import dates
from edgemem.dates import resolve_relative_dates

SAID = "1:56 pm on 8 May, 2023"  # a Monday

CASES = [
    # fact, said at, stored as
    ("Leo went hiking yesterday.", SAID, "Leo went hiking on 7 May 2023."),
    ("Leo went hiking Yesterday", SAID, "Leo went hiking on 7 May 2023"),
    ("Maya has a job interview tomorrow.", SAID, "Maya has a job interview on 9 May 2023."),
    ("Maya moved the day before yesterday.", SAID, "Maya moved on 6 May 2023."),
    ("Maya baked bread today.", SAID, "Maya baked bread on 8 May 2023."),
    ("Leo ran a 10k last week.", SAID, "Leo ran a 10k the week before 8 May 2023."),
    ("Leo starts a new job next week.", SAID, "Leo starts a new job the week after 8 May 2023."),
    ("Leo went camping last weekend.", SAID, "Leo went camping the weekend before 8 May 2023."),
    ("Maya is visiting Porto next month.", SAID, "Maya is visiting Porto in June 2023."),
    ("Maya adopted a cat last month.", SAID, "Maya adopted a cat in April 2023."),
    ("Maya graduated last year.", SAID, "Maya graduated in 2022."),
    ("Maya will travel to Japan next year.", SAID, "Maya will travel to Japan in 2024."),
    ("Leo met Sam two days ago.", SAID, "Leo met Sam on 6 May 2023."),
    ("Leo met Sam 3 weeks ago.", SAID, "Leo met Sam the week of 17 April 2023."),
    ("Leo moved here a year ago.", SAID, "Leo moved here in 2022."),
    ("Leo moved here two months ago.", SAID, "Leo moved here in March 2023."),
    ("Maya saw a concert last Friday.", SAID, "Maya saw a concert on Friday, 5 May 2023."),
    ("Maya has a dentist appointment next Monday.", SAID, "Maya has a dentist appointment on Monday, 15 May 2023."),
    ("Maya has a gallery visit this month.", SAID, "Maya has a gallery visit in May 2023."),
    (
        "Leo's birthday was last month and next month is Maya's.",
        SAID,
        "Leo's birthday was in April 2023 and in June 2023 is Maya's.",
    ),
    ("Maya moved to Rome in January.", SAID, "Maya moved to Rome in January."),  # nothing relative
    ("Leo recently started painting.", SAID, "Leo recently started painting."),  # not in the table: kept
    ("Leo went hiking yesterday.", None, "Leo went hiking yesterday."),  # no time: kept
    ("Leo went hiking yesterday.", "some day", "Leo went hiking yesterday."),  # unreadable time: kept
    ("Leo went hiking yesterday.", "May 8, 2023", "Leo went hiking on 7 May 2023."),
    ("Leo went hiking yesterday.", "2023-05-08", "Leo went hiking on 7 May 2023."),
    ("The party was yesterday.", "1 January 2024", "The party was on 31 December 2023."),  # across a year
    ("Maya starts school next month.", "20 December 2023", "Maya starts school in January 2024."),
    ("Leo ran the yesterdays race.", SAID, "Leo ran the yesterdays race."),  # whole words only
]


@pytest.mark.parametrize("fact,said,stored", CASES)
def test_relative_dates_are_resolved_against_the_message_time(fact, said, stored):
    assert resolve_relative_dates(fact, said) == stored


def test_doctests():
    assert doctest.testmod(dates).failed == 0
