"""Reading LoCoMo JSON and JSONL message files. Run: .venv/bin/pytest tests/test_conversation.py"""

import json

import pytest
from conftest import LOCOMO, NO_LOCOMO

from edgemem.conversation import load_turns, read_jsonl
from edgemem.errors import InvalidInput
from edgemem.locomo import find_conversation, load_locomo


@pytest.mark.skipif(not LOCOMO.exists(), reason=NO_LOCOMO)
def test_locomo_splits_have_the_paper_counts():
    convs = {c.sample_id: c for c in load_locomo(LOCOMO)}
    assert sum(q.category != 5 for q in convs["conv-26"].qa) == 152  # Memory-R1's training QA
    assert sum(q.category != 5 for q in convs["conv-30"].qa) == 81  # validation
    turns = convs["conv-30"].turns
    assert turns[0].source == "conv-30" and turns[0].key == "D1:1" and turns[0].time
    assert len({t.key for t in turns}) == len(turns)  # keys are unique: resume relies on it
    assert any("[shares a photo:" in t.text for t in convs["conv-26"].turns)  # image captions kept


def test_locomo_quirks(tmp_path):
    data = [
        {
            "sample_id": "x",
            "conversation": {
                "speaker_a": "A",
                "speaker_b": "B",
                "session_1_date_time": "1 Jan",
                "session_1": [{"speaker": "A", "dia_id": "D1:1", "text": "hi"}],
                "session_2_date_time": "2 Jan",  # a date without a session: skipped
                "session_10_date_time": "3 Jan",
                "session_10": [{"speaker": "B", "dia_id": "D10:1", "text": "yo"}],
            },
            "qa": [
                {"question": "q", "answer": 3, "category": 2, "evidence": ["D1:1"]},
                {"question": "adv", "category": 5, "adversarial_answer": "n"},
            ],
        }
    ]
    path = tmp_path / "l.json"
    path.write_text(json.dumps(data))
    conv = find_conversation(path, None)
    assert [(t.speaker, t.time, t.key) for t in conv.turns] == [("A", "1 Jan", "D1:1"), ("B", "3 Jan", "D10:1")]
    assert [(q.answer, q.category) for q in conv.qa] == [("3", 2)]  # numbers as answers become text
    with pytest.raises(InvalidInput, match="No conversation 'conv-99'"):
        find_conversation(path, "conv-99")


def test_bad_files(tmp_path):
    with pytest.raises(InvalidInput, match="does not exist"):
        load_turns(tmp_path / "missing.json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"hello": 1}')
    with pytest.raises(InvalidInput, match="not in the LoCoMo format"):
        load_turns(wrong)
    two = tmp_path / "two.json"
    two.write_text(json.dumps([{"sample_id": s, "conversation": {}} for s in ("a", "b")]))
    with pytest.raises(InvalidInput, match="choose one with --conversation"):
        load_turns(two)


def test_jsonl(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_text(
        '{"speaker": "Sam", "text": "hi", "time": "t1"}\n\n{"role": "assistant", "content": "hello", "id": "m2"}\n'
    )
    assert [(t.speaker, t.text, t.time, t.key) for t in read_jsonl(path)] == [
        ("Sam", "hi", "t1", "1"),
        ("assistant", "hello", None, "m2"),
    ]
    path.write_text('{"speaker": "Sam", "text": "hi"}\n{"speaker": "Sam"}\n')
    with pytest.raises(InvalidInput, match=r"chat.jsonl:2 needs"):
        list(read_jsonl(path))
    path.write_text("{not json\n")
    with pytest.raises(InvalidInput, match=r"chat.jsonl:1 is not valid JSON"):
        list(read_jsonl(path))


def test_locomo_path_setting_order(tmp_path, monkeypatch):
    """--data wins over $EDGEMEM_LOCOMO, which wins over the checkout's fallback; a missing file is one
    clear error that names where its path came from."""
    from edgemem import locomo

    given = tmp_path / "given.json"
    monkeypatch.setenv(locomo.ENV_VAR, str(tmp_path / "env.json"))
    assert locomo.locomo_path(given) == given
    assert locomo.locomo_path(None) == tmp_path / "env.json"
    with pytest.raises(InvalidInput, match=r"env\.json \(from \$EDGEMEM_LOCOMO\) does not exist.*--data FILE"):
        locomo.require_locomo(None)
    with pytest.raises(InvalidInput, match=r"given\.json \(from --data\)"):
        locomo.require_locomo(given)
    monkeypatch.delenv(locomo.ENV_VAR)
    assert locomo.locomo_path(None) == locomo.FALLBACK
    given.write_text("[]")
    assert locomo.require_locomo(given) == given


def test_select_keeps_sessions_and_their_questions(tiny_path):
    """The part of a conversation a run reads: with --max-sessions, the first sessions' turns and only the
    questions whose evidence lies there; without, everything (the harness and training share this)."""
    from edgemem.locomo import select

    (conv,) = load_locomo(tiny_path)
    turns, qas = select(conv, 1)
    assert [t.key for t in turns] == ["D1:1", "D1:2"]
    assert [q.answer for q in qas] == ["nurse", "graphic designer"]
    turns, qas = select(conv, None)
    assert len(turns) == 4 and len(qas) == 4
