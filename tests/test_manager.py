"""Memory Manager control flow with a scripted LLM, the real embedder and a real database file.
Run: .venv/bin/pytest tests/test_manager.py"""

import re
import warnings

import pytest
from fakes import ScriptedEngine

from edgemem.errors import InvalidInput


def facts(*f):
    return {"facts": list(f)}


def ops(*o):
    return {"memory": list(o)}


def test_add_update_delete_noop(make_memory):
    eng = ScriptedEngine()
    mem = make_memory(eng)
    eng.enqueue(
        facts("Sam lives in Oslo", "Sam has a cat"),
        ops({"event": "ADD", "text": "Sam lives in Oslo"}, {"event": "ADD", "text": "Sam has a cat"}),
    )
    r = mem.add("I live in Oslo and I have a cat", speaker="Sam", time="1 May 2024", wait=True)
    assert [o.op for o in r.operations] == ["ADD", "ADD"] and r.llm_calls == 2
    oslo, cat = (m.id for m in mem.memories())
    # The manager sees the memories ordered by similarity with ids "0", "1": find Oslo's id first.
    shown = [h.text for h in mem.manager.related("u", "Sam", mem.embedder.embed(["Sam moved to Rome"]))]
    oslo_ref = str(shown.index("Sam lives in Oslo"))
    eng.enqueue(facts("Sam moved to Rome"), ops({"event": "UPDATE", "id": oslo_ref, "text": "Sam lives in Rome"}))
    r = mem.add("I moved to Rome", speaker="Sam", time="2 June 2024", wait=True)
    assert [(o.op, o.memory_id, o.old_text, o.new_text) for o in r.operations] == [
        ("UPDATE", oslo, "Sam lives in Oslo", "Sam lives in Rome")
    ]
    manager_prompt = eng.history[-1]["messages"][1]["content"]
    assert '"text": "Sam lives in Oslo"' in manager_prompt and "1. Sam moved to Rome" in manager_prompt
    assert re.findall(r'"id": "(\w+)"', manager_prompt) == ["0", "1"]  # short ids, not row ids
    # A request to forget is recognised before extraction: no model call, the related memory is deleted.
    r = mem.add("Forget about my cat", speaker="Sam", wait=True)
    assert [(o.op, o.memory_id) for o in r.operations] == [("DELETE", cat)] and r.llm_calls == 0
    assert [m.text for m in mem.memories()] == ["Sam lives in Rome"]
    assert mem.memories(include_deleted=True)[1].deleted


def test_hallucinated_id_is_recorded_not_applied(make_memory):
    eng = ScriptedEngine([facts("Sam likes tea"), ops({"event": "ADD", "text": "Sam likes tea"})])
    mem = make_memory(eng)
    mem.add("I like tea", speaker="Sam", wait=True)
    before = mem.memories()
    eng.enqueue(
        facts("Sam likes coffee"),
        ops({"event": "UPDATE", "id": "5", "text": "Sam likes coffee"}, {"event": "DELETE", "id": "abc"}),
    )
    r = mem.add("I like coffee", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["REJECTED", "REJECTED"]
    assert "unknown id '5'" in r.operations[0].detail
    assert mem.memories() == before


def test_malformed_manager_output_changes_nothing(make_memory):
    eng = ScriptedEngine([facts("Sam likes tea"), ops({"event": "ADD", "text": "Sam likes tea"})])
    mem = make_memory(eng)
    mem.add("I like tea", speaker="Sam", wait=True)
    before = mem.memories()
    eng.enqueue(facts("Sam hates tea"), '{"memory": [{"event": "DELETE", "id": "0"')  # cut off
    with pytest.warns(UserWarning, match="Malformed JSON"):
        r = mem.add("I hate tea now", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["REJECTED"] and mem.memories() == before
    eng.enqueue("total garbage")
    with pytest.warns(UserWarning, match="No JSON object"):
        r = mem.add("another message", speaker="Sam", wait=True)
    assert r.facts == [] and [o.op for o in r.operations] == ["REJECTED"]


def test_no_facts_skips_the_manager(make_memory):
    eng = ScriptedEngine([facts()])
    mem = make_memory(eng)
    r = mem.add("Hey, how are you?", speaker="Sam", wait=True)
    assert r.llm_calls == 1 and r.operations == [] and mem.stats()["turns"] == 1


def test_deletion_cap(make_memory):
    eng = ScriptedEngine()
    mem = make_memory(eng, max_deletes_per_turn=1, relatedness_guard=0)
    eng.enqueue(facts("a", "b", "c"), ops(*({"event": "ADD", "text": f"Sam fact {x}"} for x in "abc")))
    mem.add("three facts", speaker="Sam", wait=True)
    eng.enqueue(
        facts("Forget everything"),
        ops({"event": "DELETE", "id": "0"}, {"event": "DELETE", "id": "1"}, {"event": "DELETE", "id": "2"}),
    )
    r = mem.add("I am starting over, new life!", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["DELETE", "REJECTED", "REJECTED"]
    assert "deletion cap" in r.operations[1].detail
    assert len(mem.memories()) == 2


def test_relatedness_guard(make_memory):
    eng = ScriptedEngine([facts("Sam lives in Oslo"), ops({"event": "ADD", "text": "Sam lives in Oslo"})])
    mem = make_memory(eng)
    mem.add("I live in Oslo", speaker="Sam", wait=True)
    # An untrained model "updates" the home with an unrelated fact: kept as ADD, nothing overwritten.
    eng.enqueue(
        facts("Sam's favourite band is Queen"),
        ops({"event": "UPDATE", "id": "0", "text": "Sam's favourite band is Queen"}),
    )
    r = mem.add("My favourite band is Queen", speaker="Sam", wait=True)
    assert r.operations[0].op == "ADD" and "unrelated" in r.operations[0].detail
    assert sorted(m.text for m in mem.memories()) == ["Sam lives in Oslo", "Sam's favourite band is Queen"]


@pytest.mark.parametrize("keep", [False, True])
def test_a_fact_left_out_by_a_shifted_operation_list(make_memory, keep):
    """The untrained manager's list is shifted: a NOOP first, then the first fact's ADD in the second and
    third slots, so the second and third facts are written by no operation. With manager_keep_shifted_facts
    they are ADDed as extracted, and the second ADD of the same text is a NOOP."""
    eng = ScriptedEngine([facts("Sam paints"), ops({"event": "ADD", "text": "Sam paints"})])
    mem = make_memory(eng, manager_keep_shifted_facts=keep)
    mem.add("I paint", speaker="Sam", wait=True)
    eng.enqueue(
        facts("Sam is stuck on what to paint next", "Sam finished a 5th painting", "Sam likes bright colours"),
        ops(
            {"event": "NOOP", "id": "0"},
            {"event": "ADD", "text": "Sam is stuck on what to paint next"},
            {"event": "ADD", "text": "Sam is stuck on what to paint next"},
        ),
    )
    r = mem.add("Stuck on what to paint next; I finished my 5th one", speaker="Sam", wait=True)
    texts = sorted(m.text for m in mem.memories())
    if not keep:  # today's default: the 5th painting is lost, the stuck fact is stored twice
        assert texts == ["Sam is stuck on what to paint next"] * 2 + ["Sam paints"]
        return
    assert texts == [
        "Sam finished a 5th painting",
        "Sam is stuck on what to paint next",
        "Sam likes bright colours",
        "Sam paints",
    ]
    details = [o.detail for o in r.operations]
    assert details.count("fact left out by a shifted operation list") == 2
    assert details.count("duplicate ADD in the same turn") == 1


def test_duplicate_add_becomes_noop(make_memory):
    eng = ScriptedEngine([facts("Sam has a puppy"), ops({"event": "ADD", "text": "Sam has a puppy"})])
    mem = make_memory(eng)
    mem.add("I have a puppy", speaker="Sam", wait=True)
    eng.enqueue(facts("Sam has a puppy"), ops({"event": "ADD", "text": "Sam has a puppy"}))
    r = mem.add("My puppy!", speaker="Sam", wait=True)
    assert [(o.op, o.detail) for o in r.operations] == [("NOOP", "duplicate ADD")]
    assert len(mem.memories()) == 1


def test_speakers_have_own_banks(make_memory):
    eng = ScriptedEngine([facts("Sam likes tea"), ops({"event": "ADD", "text": "Sam likes tea"})])
    mem = make_memory(eng)
    mem.add("I like tea", speaker="Sam", wait=True)
    eng.enqueue(facts("Ann likes tea"), ops({"event": "ADD", "text": "Ann likes tea"}))
    mem.add("I like tea too", speaker="Ann", wait=True)
    manager_prompt = eng.history[-1]["messages"][1]["content"]
    assert "Existing memories:\n(none)" in manager_prompt  # Sam's memory is not in Ann's bank
    assert {m.speaker for m in mem.memories()} == {"Sam", "Ann"}


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_message(make_memory, text):
    mem = make_memory(ScriptedEngine())
    with pytest.raises(InvalidInput, match="empty"):
        mem.add(text, speaker="Sam", wait=True)
    assert mem.stats()["turns"] == 0


def test_resume_skips_stored_turns(make_memory):
    from edgemem import Turn

    eng = ScriptedEngine([facts(), facts()])
    mem = make_memory(eng)
    turns = [Turn("Sam", "hello", None, "file", "1"), Turn("Ann", "hi", None, "file", "2")]
    first = mem.ingest(turns)
    again = mem.ingest(turns)
    assert (first.processed, again.processed, again.skipped) == (2, 0, 2)
    assert len(eng.history) == 2  # no model call for stored turns


def test_long_message_is_truncated_with_warning(make_memory):
    eng = ScriptedEngine([facts()])
    mem = make_memory(eng, max_message_tokens=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = mem.add("word " * 500, speaker="Sam", wait=True)
    assert any("truncated" in str(w.message) for w in caught)
    assert "truncated" in r.warnings[0]
    assert len(mem.store.last_turn("u", "").text.split()) <= 50


def test_relative_dates_in_facts_are_resolved_before_they_are_stored(make_memory):
    """With resolve_dates on, the fact the manager sees and the memory stored carry the absolute date; the
    setting is part of what shapes a bank (and absent when off, so earlier banks keep their names)."""
    from edgemem import MemoryConfig

    eng = ScriptedEngine()
    mem = make_memory(eng, resolve_dates=True)
    eng.enqueue(facts("Sam went hiking yesterday"), ops({"event": "ADD", "text": "Sam went hiking on 7 May 2023"}))
    r = mem.add("I went hiking yesterday!", speaker="Sam", time="1:56 pm on 8 May, 2023", wait=True)
    assert r.facts == ["Sam went hiking on 7 May 2023"]
    assert "1. Sam went hiking on 7 May 2023" in eng.history[-1]["messages"][1]["content"]
    assert [m.text for m in mem.memories()] == ["Sam went hiking on 7 May 2023"]
    assert MemoryConfig(resolve_dates=True).bank_settings()["resolve_dates"] is True
    assert "resolve_dates" not in MemoryConfig().bank_settings()


def test_manager_only_when_related_adds_new_facts_without_a_call(make_memory):
    eng = ScriptedEngine([facts("Sam lives in Oslo", "Sam plays chess")])
    mem = make_memory(eng, manager_only_when_related=True)
    r = mem.add("I live in Oslo and play chess", speaker="Sam", wait=True)
    assert r.llm_calls == 1 and [o.op for o in r.operations] == ["ADD", "ADD"]
    assert all("without the manager" in o.detail for o in r.operations)
    # one fact has a related memory (the manager decides it), the other is new (added directly)
    eng.enqueue(
        facts("Sam moved to Rome", "Sam has a parrot named Kiwi"),
        ops({"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}),
    )
    r = mem.add("I moved to Rome, and I have a parrot named Kiwi", speaker="Sam", wait=True)
    assert r.llm_calls == 2
    prompt = eng.history[-1]["messages"][-1]["content"]
    assert "Sam moved to Rome" in prompt and "parrot" not in prompt
    assert sorted(o.op for o in r.operations) == ["ADD", "UPDATE"]
    assert sorted(m.text for m in mem.memories()) == [
        "Sam has a parrot named Kiwi",
        "Sam lives in Rome",
        "Sam plays chess",
    ]


def test_manager_add_by_number(make_memory):
    """The ADD names no text: the prompt and the grammar say so, and the fact is stored as extracted."""
    from edgemem import prompts

    eng = ScriptedEngine([facts("Sam lives in Oslo", "Sam plays chess"), ops({"event": "ADD"}, {"event": "ADD"})])
    mem = make_memory(eng, manager_add_by_number=True)
    r = mem.add("I live in Oslo and play chess", speaker="Sam", wait=True)
    assert [(o.op, o.new_text) for o in r.operations] == [("ADD", "Sam lives in Oslo"), ("ADD", "Sam plays chess")]
    call = eng.history[-1]
    assert call["messages"][0]["content"] == prompts.manager_system(add_by_number=True)
    add = call["schema"]["properties"]["memory"]["items"]["anyOf"][0]
    assert add["required"] == ["event"] and "text" not in add["properties"]
    assert prompts.manager_system() == prompts.MANAGER_SYSTEM != prompts.manager_system(add_by_number=True)


def test_admission_gate_skips_extraction(make_memory):
    """A reaction with no first-person word makes no model call and records one NOOP saying why; a
    message about its writer is extracted as before; a short request to forget still deletes."""
    eng = ScriptedEngine([facts("Sam plays chess"), ops({"event": "ADD", "text": "Sam plays chess"})])
    mem = make_memory(eng, admission_gate=True)
    r = mem.add("Wow, that's so cool! What got you into that?", speaker="Sam", wait=True)
    assert r.llm_calls == 0 and [o.op for o in r.operations] == ["NOOP"] and "admission gate" in r.operations[0].detail
    assert mem.stats()["turns"] == 1 and mem.stats()["pending"] == 0  # stored, consolidated, nothing extracted
    r = mem.add("I play chess", speaker="Sam", wait=True)
    assert r.llm_calls == 2 and [m.text for m in mem.memories()] == ["Sam plays chess"]
    r = mem.add("Forget that.", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["DELETE"] and mem.memories() == []


def test_answer_is_told_when_the_question_is_asked(make_memory):
    """``now`` reaches the answer prompt (for "how long ago"), not the search; without it the prompt is the
    one the answer agent was trained on."""
    import pytest
    from fakes import RecordingEngine

    from edgemem.errors import InvalidInput

    eng = RecordingEngine()
    mem = make_memory(eng)
    mem.add("I adopted a cat named Pixel.", speaker="Mia", time="1 May 2023", wait=True)
    mem.answer("When did Mia adopt Pixel?", now="28 May 2023")
    mem.answer("When did Mia adopt Pixel?")
    asked, plain = (m[-1]["content"] for m in eng.sent["answer-plain"])
    assert "Today is 28 May 2023.\nQuestion: When did Mia adopt Pixel?" in asked
    assert "Today is" not in plain and asked.replace("Today is 28 May 2023.\n", "") == plain
    for bad in ("", "  ", 5):
        with pytest.raises(InvalidInput, match="now="):
            mem.answer("When?", now=bad)


def test_raw_only_speakers_are_stored_and_searchable_but_never_extracted(make_memory):
    """An assistant's own replies: kept as raw turns (searchable, in the answer context), one NOOP each,
    no model call; the user's messages are extracted as before."""
    import pytest
    from fakes import RecordingEngine

    from edgemem.errors import InvalidInput

    eng = RecordingEngine()
    mem = make_memory(eng, raw_only_speakers=["assistant"])
    r = mem.add("For tomatoes, plant basil and marigolds next to them.", speaker="Assistant", wait=True)
    assert r.llm_calls == 0 and [o.op for o in r.operations] == ["NOOP"] and "raw turn only" in r.operations[0].detail
    u = mem.add("I planted basil next to my tomatoes.", speaker="Leo", wait=True)
    assert u.llm_calls == 2 and len(eng.sent["extract"]) == 1
    hits = mem.store.search_turns("u", mem.embedder.embed_one("marigolds for tomatoes"), 2, text="marigolds")
    assert any("marigolds" in h.text for h in hits)
    assert mem.config.bank_settings()["raw_only_speakers"] == ["assistant"]
    for bad in ("assistant", [""], [3]):
        with pytest.raises(InvalidInput, match="raw_only_speakers"):
            make_memory(eng, name="bad.db", raw_only_speakers=bad)


def test_manager_lines(make_memory):
    """manager_lines: the manager replies one line per fact; "ADD" stores the fact as extracted, ids are the
    ones shown, the guards hold; with nothing stored to compare with, the facts are ADDed without a call."""
    from edgemem import prompts

    eng = ScriptedEngine([facts("Sam lives in Oslo", "Sam has a cat")])
    mem = make_memory(eng, manager_lines=True)
    r = mem.add("I live in Oslo and I have a cat", speaker="Sam", time="1 May 2024", wait=True)
    assert r.llm_calls == 1 and [(o.op, o.new_text) for o in r.operations] == [
        ("ADD", "Sam lives in Oslo"),
        ("ADD", "Sam has a cat"),
    ]
    oslo, cat = (m.id for m in mem.memories())
    shown = [
        h.text for h in mem.manager.related("u", "Sam", mem.embedder.embed(["Sam moved to Rome", "Sam plays chess"]))
    ]
    oslo_ref, cat_ref = shown.index("Sam lives in Oslo"), shown.index("Sam has a cat")
    eng.enqueue(
        facts("Sam moved to Rome", "Sam plays chess", "Sam gave the cat away"),
        f"UPDATE {oslo_ref} Sam lives in Rome\nADD\nDELETE {cat_ref}",
    )
    r = mem.add("I moved to Rome, I play chess, and I gave my cat away", speaker="Sam", wait=True)
    assert r.llm_calls == 2
    assert [(o.op, o.memory_id, o.new_text) for o in r.operations][:2] == [
        ("UPDATE", oslo, "Sam lives in Rome"),
        ("ADD", r.operations[1].memory_id, "Sam plays chess"),
    ]
    assert r.operations[2].op in ("DELETE", "REJECTED") and r.operations[2].memory_id == cat
    call = eng.history[-1]
    assert call["messages"][0]["content"] == prompts.MANAGER_LINES_SYSTEM and call["schema"] is None
    assert call["grammar"] == prompts.manager_lines_grammar(len(shown), 3)
    assert f"{oslo_ref}: Sam lives in Oslo" in call["messages"][1]["content"]
    assert "1. Sam moved to Rome\n2. Sam plays chess\n3. Sam gave the cat away" in call["messages"][1]["content"]
    # A line naming an id that was not shown, and a line too many, change nothing.
    eng.enqueue(facts("Sam likes tea"), "NOOP 0\nUPDATE 0 Sam hates tea")
    before = mem.memories()
    r = mem.add("I like tea", speaker="Sam", wait=True)
    assert [o.op for o in r.operations] == ["NOOP", "REJECTED"] and mem.memories() == before
    # Another speaker has nothing stored: ADD is the only line allowed, so no manager call.
    eng.enqueue(facts("Mia paints"))
    r = mem.add("I paint", speaker="Mia", wait=True)
    assert r.llm_calls == 1 and [(o.op, o.new_text) for o in r.operations] == [("ADD", "Mia paints")]


def test_manager_lines_grammar_allows_one_line_per_fact():
    from edgemem import MemoryConfig, prompts

    assert prompts.manager_lines_grammar(0, 1) == 'root ::= op "\\n"?\nop ::= "ADD"\n'
    g = prompts.manager_lines_grammar(2, 3)
    assert 'root ::= op ("\\n" op){2} "\\n"?' in g and 'id ::= "0" | "1"' in g
    one, two = MemoryConfig(manager_lines=True).bank_settings(), MemoryConfig().bank_settings()
    assert one == {**two, "manager_lines": True}


@pytest.mark.parametrize(
    ("reply", "ops", "reasons"),
    [
        ("ADD\nADD", [("ADD", None, "f0"), ("ADD", None, "f1")], []),
        ("ADD Sam plays chess\n", [("ADD", None, "Sam plays chess")], []),
        ("update 1: Sam lives in Rome", [("UPDATE", "1", "Sam lives in Rome")], []),
        ("NOOP 1\nNOOP 1", [("NOOP", "1", None), ("NOOP", "1", None)], []),
        ("DELETE 0\nDELETE 0", [("DELETE", "0", None)], ["id 0 was already changed by this output"]),
        ("UPDATE 1", [], ["UPDATE without text"]),
        ("DELETE", [], ["DELETE names unknown id None (ids shown: 0..1)"]),
        ("Sam plays chess", [], ["not an operation line (ADD, UPDATE, DELETE, NOOP)"]),
        ("ADD\nADD\nADD", [("ADD", None, "f0"), ("ADD", None, "f1")], ["more lines than facts (2)"]),
        ("", [], []),
    ],
)
def test_operation_lines_are_parsed_and_checked(reply, ops, reasons):
    from edgemem.parsing import parse_operation_lines

    parsed = parse_operation_lines(reply, 2, ["f0", "f1"])
    assert [(o.event, o.ref, o.text) for o in parsed.ops] == ops
    assert [r.reason for r in parsed.rejected] == reasons
