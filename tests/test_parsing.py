"""Parsing of model outputs, table-driven. Run: .venv/bin/pytest tests/test_parsing.py"""

import pytest

from edgemem.errors import ModelOutputError
from edgemem.parsing import parse_answer, parse_batch_facts, parse_facts, parse_operations

FACTS = [
    ('{"facts": ["Sam likes tea", "Sam lives in Oslo"]}', ["Sam likes tea", "Sam lives in Oslo"]),
    ('{"facts": []}', []),
    ('```json\n{"facts": ["a"]}\n```', ["a"]),  # code fence
    ('Sure! {"facts": ["a", "a", " ", 3]} hope it helps', ["a"]),  # chatter, duplicate, blank, non-string
    ('{"facts": ["1","2","3","4","5","6","7"]}', ["1", "2", "3", "4", "5"]),  # capped at MAX_FACTS
]


@pytest.mark.parametrize("text,expected", FACTS)
def test_parse_facts(text, expected):
    assert parse_facts(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "no json here", '{"facts": "not a list"}', '{"facts": [1, 2', "[1, 2]"],
)
def test_parse_facts_rejects(text):
    with pytest.raises(ModelOutputError):
        parse_facts(text)


BATCH_FACTS = [
    ('{"1": ["Sam likes tea"], "2": []}', 2, [["Sam likes tea"], []]),
    ('{"2": ["b"], "1": ["a", "a", 3]}', 2, [["a"], ["b"]]),  # keys in any order; duplicate and non-string dropped
    ('{"1": [], "2": [], "3": ["c"], "extra": ["x"]}', 3, [[], [], ["c"]]),  # keys past n ignored
    ('```json\n{"1": ["1","2","3","4","5","6"]}\n```', 1, [["1", "2", "3", "4", "5"]]),  # fence; MAX_FACTS each
]


@pytest.mark.parametrize("text,n,expected", BATCH_FACTS)
def test_parse_batch_facts(text, n, expected):
    assert parse_batch_facts(text, n) == expected


@pytest.mark.parametrize(
    "text,n", [("", 1), ('{"1": []}', 2), ('{"1": "a", "2": []}', 2), ('{"facts": ["a"]}', 1), ("[[1]]", 1)]
)
def test_parse_batch_facts_rejects(text, n):
    """A missing message or a non-list makes the whole batch unreadable: the caller extracts one by one."""
    with pytest.raises(ModelOutputError):
        parse_batch_facts(text, n)


# (output, number of memories shown, expected valid (event, ref, text), expected rejection reasons)
OPS = [
    # one of each, all valid
    (
        '{"memory": [{"event": "ADD", "text": "new"}, {"event": "UPDATE", "id": "0", "text": "changed"},'
        ' {"event": "DELETE", "id": "1"}, {"event": "NOOP", "id": "2"}]}',
        3,
        [("ADD", None, "new"), ("UPDATE", "0", "changed"), ("DELETE", "1", None), ("NOOP", "2", None)],
        [],
    ),
    # the authors' code says NONE; integer ids are accepted as their string form
    (
        '{"memory": [{"event": "NONE", "id": 0}, {"event": "update", "id": 1, "text": "x"}]}',
        2,
        [("NOOP", "0", None), ("UPDATE", "1", "x")],
        [],
    ),
    # a hallucinated id (7 of 2 shown), a UUID, a negative id, and " 01" must never reach a row
    (
        '{"memory": [{"event": "DELETE", "id": "7"}, {"event": "UPDATE", "id": "3f2a-uuid", "text": "x"},'
        ' {"event": "DELETE", "id": "-1"}, {"event": "DELETE", "id": "01"}]}',
        2,
        [],
        ["unknown id '7'", "unknown id '3f2a-uuid'", "unknown id '-1'", "unknown id '01'"],
    ),
    # with no memories shown, any id is unknown; ADD ignores an id
    (
        '{"memory": [{"event": "UPDATE", "id": "0", "text": "x"}, {"event": "ADD", "id": "9", "text": "y"}]}',
        0,
        [("ADD", None, "y")],
        ["unknown id '0'"],
    ),
    # wrong types
    (
        '{"memory": ["ADD", {"event": 1}, {"event": "ADD", "text": 5}, {"event": "DELETE", "id": true}]}',
        2,
        [],
        ["not an object", "non-string event", "text must be a string", "id must be a string"],
    ),
    # unknown event, ADD/UPDATE without text
    (
        '{"memory": [{"event": "MERGE", "id": "0"}, {"event": "ADD"}, {"event": "UPDATE", "id": "0"}]}',
        1,
        [],
        ["unknown event", "ADD without text", "UPDATE without text"],
    ),
    # the same memory changed twice: the second is rejected
    (
        '{"memory": [{"event": "UPDATE", "id": "0", "text": "a"}, {"event": "DELETE", "id": "0"}]}',
        1,
        [("UPDATE", "0", "a")],
        ["already changed"],
    ),
    # a huge text is refused, not stored
    ('{"memory": [{"event": "ADD", "text": "' + "x" * 5000 + '"}]}', 0, [], ["characters (limit"]),
    # NOOP without an id is a harmless no-op
    ('{"memory": [{"event": "NOOP"}]}', 0, [("NOOP", None, None)], []),
]


@pytest.mark.parametrize("text,n,valid,reasons", OPS)
def test_parse_operations(text, n, valid, reasons):
    parsed = parse_operations(text, n)
    assert [(o.event, o.ref, o.text) for o in parsed.ops] == valid
    assert len(parsed.rejected) == len(reasons)
    for rej, reason in zip(parsed.rejected, reasons, strict=True):
        assert reason in rej.reason


def test_parse_operations_links_facts_by_position():
    parsed = parse_operations('{"memory": [{"event": "ADD", "text": "a"}, {"event": "NOOP"}]}', 0, ["f1", "f2"])
    assert [o.fact for o in parsed.ops] == ["f1", "f2"]


@pytest.mark.parametrize("text", ["", "nothing", '{"memory": {"event": "ADD"}}', '{"ops": []}', '{"memory": [{"event"'])
def test_parse_operations_rejects_whole_output(text):
    with pytest.raises(ModelOutputError):
        parse_operations(text, 3)


ANSWERS = [
    ('{"memories": [2, 1, 9, 2], "answer": "Lisbon"}', 3, "Lisbon", [2, 1]),  # 9 does not exist, 2 repeated
    ('{"memories": [], "answer": 2022}', 3, "2022", []),  # a number as answer
    ("[1] Sam moved.\n[3] Sam lives in Rome.\n**Answer:** Rome", 3, "Rome", [1, 3]),  # Memory-R1 free text
    ("Rome, since 2021.", 3, "Rome, since 2021.", []),  # bare text
]


@pytest.mark.parametrize("text,n,answer,cited", ANSWERS)
def test_parse_answer(text, n, answer, cited):
    parsed = parse_answer(text, n)
    assert (parsed.answer, parsed.cited) == (answer, cited)


def test_parse_answer_empty():
    with pytest.raises(ModelOutputError):
        parse_answer("   ", 2)


def test_add_by_number_stores_its_fact():
    """An ADD without text (MemoryConfig.manager_add_by_number) stores the fact in its position; with no
    fact for that position it is still refused."""
    parsed = parse_operations('{"memory": [{"event": "NOOP", "id": "0"}, {"event": "ADD"}]}', 1, ["f1", "f2"])
    assert [(o.event, o.text) for o in parsed.ops] == [("NOOP", None), ("ADD", "f2")]
    parsed = parse_operations('{"memory": [{"event": "ADD"}, {"event": "ADD"}]}', 0, ["f1"])
    assert [o.text for o in parsed.ops] == ["f1"] and "ADD without text" in parsed.rejected[0].reason
