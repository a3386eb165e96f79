"""The plain answer format (MemoryConfig.answer_format="plain", the default): raw turns first, then memories,
each line "[date] speaker: text"; the reply's first line is the answer; it cites the context items sharing
its words. Control flow on a scripted engine, then the real 0.5B model."""

from __future__ import annotations

import pytest
from fakes import RecordingEngine, ScriptedEngine

from edgemem import MemoryConfig
from edgemem.answer import PlainStream, supporting
from edgemem.errors import InvalidInput
from edgemem.prompts import PLAIN_ANSWER_SYSTEM, first_line
from edgemem.store import SearchHit


def test_the_prompt_shows_turns_first_then_memories_with_dates(make_memory):
    eng = RecordingEngine()
    mem = make_memory(eng)
    mem.add("I moved to Lisbon last spring.", speaker="Mia", time="1 May 2023", wait=True)
    a = mem.answer("Where does Mia live?")
    system, user = (m["content"] for m in eng.sent["answer-plain"][0])
    assert system == PLAIN_ANSWER_SYSTEM
    excerpts = user.split("Conversation excerpts:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    # the raw turn (with its speaker), then the fact the manager stored from it (EchoEngine: "Mia said: ...")
    assert excerpts == [
        "[1 May 2023] Mia: I moved to Lisbon last spring.",
        "[1 May 2023] Mia said: I moved to Lisbon last spring.",
    ]
    assert user.endswith("Question: Where does Mia live?\nShort answer:")
    # the answer is the reply's first line; no JSON schema
    assert a.answer == "[1 May 2023] Mia: I moved to Lisbon last spring."
    assert [h.kind for h in a.context] == ["turn", "memory"] and a.cited


def test_no_schema_and_the_plain_adapter_for_a_plain_answer(make_memory):
    eng = ScriptedEngine(
        [{"facts": ["Mia lives in Lisbon"]}, {"memory": [{"event": "ADD", "text": "Mia lives in Lisbon"}]}]
    )
    mem = make_memory(eng)
    mem.add("I live in Lisbon.", speaker="Mia", time="1 May 2023", wait=True)
    eng.enqueue("\n  Lisbon \nbecause she said so")
    a = mem.answer("Where does Mia live?")
    call = eng.history[-1]
    # the plain format's own adapter ("answer-plain"; the base model where none is loaded), never the cited one
    assert call.get("schema") is None and call["adapter"] == "answer-plain" and call["prefix_key"] == "answer-plain"
    assert a.answer == "Lisbon" and {h.text for h in a.cited} == {"I live in Lisbon.", "Mia lives in Lisbon"}


def test_the_cited_format_is_memory_r1s(make_memory):
    eng = ScriptedEngine(
        [{"facts": ["Mia lives in Lisbon"]}, {"memory": [{"event": "ADD", "text": "Mia lives in Lisbon"}]}]
    )
    mem = make_memory(eng, answer_format="cited", answer_k=5, answer_turns_k=5)
    mem.add("I live in Lisbon.", speaker="Mia", time="1 May 2023", wait=True)
    eng.enqueue({"memories": [1], "answer": "Lisbon"})
    a = mem.answer("Where does Mia live?")
    call = eng.history[-1]
    assert call["schema"] is not None and call["adapter"] == "answer" and call["prefix_key"] == "answer"
    assert "Memories of Mia:\n[1] 1 May 2023: Mia lives in Lisbon" in call["messages"][1]["content"]
    assert a.answer == "Lisbon" and [h.text for h in a.cited] == ["Mia lives in Lisbon"]


def test_an_unknown_format_is_refused():
    with pytest.raises(InvalidInput, match="answer_format 'json'.*plain, cited"):
        MemoryConfig(answer_format="json")
    assert MemoryConfig.preset("cited").answer_format == "cited"
    assert MemoryConfig.preset("memory-r1").answer_format == "cited"


@pytest.mark.parametrize(
    "pieces,streamed",
    [
        (["\n", " Lis", "bon", "\nmore"], "Lisbon"),  # leading blank lines skipped, cut at the line's end
        (["7 May", " 2023"], "7 May 2023"),
        (["a\n", "b"], "a"),
    ],
)
def test_a_plain_stream_forwards_the_first_line(pieces, streamed):
    out: list[str] = []
    stream = PlainStream(out.append)
    for p in pieces:
        stream(p)
    assert "".join(out) == streamed == first_line("".join(pieces))


def hit(i: int, text: str, kind: str = "memory", time: str | None = None) -> SearchHit:
    return SearchHit(i, "Mia", text, time, 1.0, kind)


@pytest.mark.parametrize(
    "answer,cited",
    [
        ("Lisbon", [1, 3]),
        ("7 May 2023", [2]),  # a date matches the item's time
        ("Not mentioned", []),
        ("the", []),  # no content word
        ("Paris", []),  # nothing shares a word
    ],
)
def test_supporting_items_share_the_answers_words(answer, cited):
    context = [
        hit(1, "I moved to Lisbon", "turn"),
        hit(2, "Mia adopted a cat", time="7 May 2023"),
        hit(3, "Mia lives in Lisbon"),
    ]
    assert [h.id for h in supporting(answer, context)] == cited


@pytest.mark.slow
def test_a_plain_answer_on_the_real_model(tmp_path, qwen_engine, embedder):
    from edgemem import Memory

    with Memory(tmp_path / "m.db", user="u", engine=qwen_engine, embedder=embedder, background=False) as mem:
        mem.add("I adopted a cat named Pixel last week.", speaker="Mia", time="8 May 2023")
        mem.add("My sister lives in Porto.", speaker="Mia", time="8 May 2023")
        streamed: list[str] = []
        a = mem.answer("What is the name of Mia's cat?", on_token=streamed.append)
    assert "pixel" in a.answer.lower() and "\n" not in a.answer and a.completion_tokens > 0
    assert "".join(streamed).strip() == a.answer
    assert any("Pixel" in h.text for h in a.cited)


@pytest.mark.parametrize(
    ("fmt", "named", "match"),
    [
        ("plain", "answer", "serves cited answers only.*answer_format='cited'"),
        ("cited", "answer-plain", "serves plain answers only.*answer_format='plain'"),
    ],
)
def test_an_answer_adapter_of_the_other_format_is_not_silently_unused(tmp_path, embedder, fmt, named, match):
    """Each answer format has its own adapter ("answer": cited, "answer-plain": plain): one named by the
    user (or a manifest) for the other format is not applied, and opening the model says so."""
    from edgemem import Memory
    from edgemem.errors import EdgememError

    missing = tmp_path / "answer-lora.gguf"
    with Memory(
        tmp_path / "m.db", model="smollm2-135m", embedder=embedder, answer_format=fmt, adapters={named: str(missing)}
    ) as mem:
        with pytest.warns(UserWarning, match=match):
            with pytest.raises(EdgememError):  # then the engine refuses the missing file
                _ = mem.engine
