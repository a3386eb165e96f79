"""The LongMemEval harness (benchmarks/longmemeval.py): loading, the stratified sample, scoring (abstention,
evidence-session recall), resuming; on a made-up file in LongMemEval's format, with a scripted engine
for control flow and the real model for the whole run. Run: .venv/bin/pytest tests/test_longmemeval.py"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from fakes import EchoEngine

from benchmarks import longmemeval as lme


def session(*said: str, evidence: int | None = None) -> list[dict[str, object]]:
    """A session of alternating user / assistant turns; turn ``evidence`` is marked ``has_answer``."""
    return [
        {"role": "user" if n % 2 == 0 else "assistant", "content": t, "has_answer": n == evidence}
        for n, t in enumerate(said)
    ]


QUESTIONS = [
    {
        "question_id": "q1",
        "question_type": "knowledge-update",
        "question": "Where do I live now?",
        "answer": "Rome",
        "question_date": "2023/06/01 (Thu) 10:00",
        # the later session comes first in the file: the history is put in date order
        "haystack_dates": ["2023/05/20 (Sat) 09:00", "2023/05/01 (Mon) 09:00"],
        "haystack_session_ids": ["s_new", "s_old"],
        "haystack_sessions": [
            session("I moved from Oslo to Rome last week.", "Congratulations on the move to Rome!", evidence=0),
            session("I live in Oslo and work as a nurse.", "Oslo is a lovely city."),
        ],
        "answer_session_ids": ["s_new"],
    },
    {
        "question_id": "q2_abs",
        "question_type": "single-session-user",
        "question": "What is my dog's name?",
        "answer": "You did not mention a dog.",
        "question_date": "2023/06/01 (Thu) 10:00",
        "haystack_dates": ["2023/05/02 (Tue) 09:00"],
        "haystack_session_ids": ["s_cat"],
        "haystack_sessions": [session("My cat is called Pixel.", "Pixel is a cute name.")],
        "answer_session_ids": [],
    },
]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    path = tmp_path / "lme.json"
    path.write_text(json.dumps(QUESTIONS))
    return path


def test_doctests():
    import doctest

    assert doctest.testmod(lme).failed == 0


def test_load_orders_sessions_by_date_and_keys_turns_by_session(data):
    q1, q2 = lme.load(data)
    assert [s[0] for s in q1.sessions] == ["s_old", "s_new"] and not q1.abstention and q2.abstention
    turns = q1.turns()
    assert [t.key for t in turns] == ["s_old:0", "s_old:1", "s_new:0", "s_new:1"]
    assert [t.speaker for t in turns[:2]] == ["User", "Assistant"] and turns[0].time == "2023/05/01 (Mon) 09:00"
    assert lme.session_recall(q1, ["s_new:1", "s_old:0"]) == 1.0 and lme.session_recall(q1, ["s_old:0"]) == 0.0
    # evidence-turn recall is stricter: the session's other turn does not count
    assert q1.answer_turns == ["s_new:0"] and lme.turn_recall(q1, ["s_new:0", "s_old:1"]) == 1.0
    assert lme.turn_recall(q1, ["s_new:1", "s_old:0"]) == 0.0 and lme.turn_recall(q2, ["s_cat:0"]) is None


def test_bad_files_say_what_is_wrong(tmp_path):
    with pytest.raises(SystemExit, match="No LongMemEval file"):
        lme.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"question_id": "x"}]))
    with pytest.raises(SystemExit, match="has no answer"):
        lme.load(bad)


def test_abstention_is_scored_by_whether_the_answer_abstains(data):
    q1, q2 = lme.load(data)
    assert lme.score_answer(q2, "Not mentioned") == {"f1": 1.0, "em": 1.0}
    assert lme.score_answer(q2, "Rex") == {"f1": 0.0, "em": 0.0}
    assert lme.score_answer(q1, "Rome")["em"] == 1.0 and lme.score_answer(q1, "Not mentioned")["f1"] == 0.0


def test_stratified_sample_keeps_every_type_and_the_file_order():
    path = Path(__file__).resolve().parents[2] / "shared" / "data" / "longmemeval" / "oracle_dev.json"
    if not path.is_file():
        pytest.skip("the LongMemEval development file is not next to the project")
    questions = lme.load(path)
    sample = lme.stratified(questions, 30, seed=0)
    assert len(sample) == 30 and sample == [q for q in questions if q in sample]
    assert {lme.stratum(q) for q in sample} == {lme.stratum(q) for q in questions}
    assert [q.id for q in lme.stratified(questions, 30, seed=0)] == [q.id for q in sample]  # reproducible


def test_a_run_writes_scores_and_resumes(data, tmp_path, embedder):
    out = tmp_path / "run"
    argv = ["--data", str(data), "--systems", "none,rag,rag-hybrid,edgemem", "--out", str(out)]
    first = lme.main(argv, engine=EchoEngine(), embedder=embedder)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["system"] for r in rows} == set(lme.SYSTEMS)
    rag_q1 = next(r for r in rows if r["system"] == "rag" and r["question_id"] == "q1")
    assert rag_q1["session_recall"] == 1.0  # both sessions are in a context of 10 turns
    edge = next(r for r in rows if r["system"] == "edgemem" and r["question_id"] == "q1")
    assert edge["ingest"]["turns"] == 4 and edge["ingest"]["consolidated_now"] == 4
    s = first["scores"]
    assert s["edgemem"]["all"]["n"] == 2 and s["rag"][lme.ABSTENTION]["n"] == 1
    assert "knowledge-update" in (out / "summary.md").read_text()
    (out / "f1_per_type.png").unlink(missing_ok=True)
    lme.main(["--plots-from", str(out)])
    assert (out / "f1_per_type.png").is_file() or importlib.util.find_spec("matplotlib") is None
    again = lme.main(argv, engine=EchoEngine(), embedder=embedder)  # nothing left to do: same rows, same scores
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 8
    assert again["scores"] == first["scores"]
    # the dog was never mentioned: edgemem abstains without asking the model, and says so in its row
    dog = next(r for r in rows if r["system"] == "edgemem" and r["question_id"] == "q2_abs")
    assert dog["prediction"] == "Not mentioned" and dog["unmentioned"] == ["dog"] and dog["f1"] == 1.0
    assert dog["answer_format"] == "plain"
    # resuming with another answer setting would mix two systems under one name
    with pytest.raises(SystemExit, match="another abstain_unmentioned.*--abstain-unmentioned"):
        lme.main([*argv, "--no-abstain-unmentioned"], engine=EchoEngine(), embedder=embedder)
    with pytest.raises(SystemExit, match="another answer_format.*--answer-format plain"):
        lme.main([*argv, "--answer-format", "cited"], engine=EchoEngine(), embedder=embedder)


def test_manager_add_by_number_builds_its_own_bank(data, tmp_path, embedder):
    banks = tmp_path / "banks"
    argv = ["--data", str(data), "--systems", "edgemem", "--banks", str(banks)]
    first = lme.main([*argv, "--out", str(tmp_path / "a")], engine=EchoEngine(), embedder=embedder)
    second = lme.main(
        [*argv, "--out", str(tmp_path / "b"), "--manager-add-by-number"], engine=EchoEngine(), embedder=embedder
    )
    assert first["manager_add_by_number"] is False and second["manager_add_by_number"] is True
    assert len(list(banks.glob("q1-*.db"))) == 2  # another bank setting: not the cached bank of the first run


@pytest.mark.slow
def test_a_run_on_the_real_model(data, tmp_path, embedder, qwen_engine):
    """Every system on the real model: answers come back, and edgemem consolidates each question's whole
    history into its own bank (the date in the prompt is checked with a scripted engine in test_manager)."""
    out = tmp_path / "real"
    summary = lme.main(
        ["--data", str(data), "--systems", "none,rag,rag-hybrid,edgemem", "--out", str(out), "--threads", "1"],
        engine=qwen_engine,
        embedder=embedder,
    )
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and all(isinstance(r["prediction"], str) for r in rows)
    edge = {r["question_id"]: r for r in rows if r["system"] == "edgemem"}
    assert all(r["ingest"]["consolidated_now"] == r["ingest"]["turns"] for r in edge.values()), edge
    assert edge["q1"]["ingest"]["memories"] > 0, edge["q1"]  # "I live in Oslo and work as a nurse", ...
    assert summary["scores"]["edgemem"]["all"]["n"] == 2


def test_rag_context_is_cut_to_the_model_window(tmp_path, embedder):
    """Long assistant turns: rag keeps the best-ranked turns that fit n_ctx, never an overlong prompt."""
    long = {
        **QUESTIONS[0],
        "question_id": "long",
        "haystack_dates": ["2023/05/01 (Mon) 09:00"],
        "haystack_session_ids": ["s"],
        "haystack_sessions": [session(*[f"Rome tip {n}: " + "word " * 600 for n in range(12)])],
        "answer_session_ids": ["s"],
    }
    path = tmp_path / "long.json"
    path.write_text(json.dumps([long]))
    engine = EchoEngine()
    lme.main(["--data", str(path), "--systems", "rag,rag-hybrid", "--out", str(tmp_path / "o")], engine, embedder)
    rows = [json.loads(line) for line in (tmp_path / "o" / "predictions.jsonl").read_text().splitlines()]
    for r in rows:
        assert 1 <= len(r["context_keys"]) <= (engine.n_ctx - 400) // 600 < 10, r["context_keys"]


def test_retrieval_only_scores_the_context_without_a_model_call(data, tmp_path, embedder):
    """--retrieval-only: rows hold the context's ids, size and evidence-session recall, no answer; the
    summary reports recall per type; other systems are refused with the fix."""

    class NoCalls(EchoEngine):
        def complete(self, messages, **kwargs):
            raise AssertionError("a retrieval-only run asked the model")

    engine = NoCalls()
    out = tmp_path / "r"
    argv = ["--data", str(data), "--systems", "rag,rag-hybrid,edgemem", "--retrieval-only", "--out", str(out)]
    summary = lme.main(argv, engine=engine, embedder=embedder)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and all("prediction" not in r and "f1" not in r for r in rows)
    # edgemem: the turns stored, none consolidated (no facts), and the answer agent's raw turns hold the evidence
    mine = next(r for r in rows if r["system"] == "edgemem" and r["question_id"] == "q1")
    assert mine["ingest"]["memories"] == 0 and mine["ingest"]["turns"] == 4 and "s_new:0" in mine["context_keys"]
    q1 = [r for r in rows if r["question_id"] == "q1"]
    assert all(r["session_recall"] == 1.0 and r["turn_recall"] == 1.0 and r["context_tokens"] > 0 for r in q1)
    assert all(r["turn_recall"] is None for r in rows if r["question_id"] == "q2_abs")  # no marked turn
    assert summary["scores"]["rag"]["knowledge-update"]["session_recall"] == 1.0
    assert summary["scores"]["rag"]["all"]["turn_recall"] == 1.0 and summary["scores"]["rag"]["all"]["turn_n"] == 1
    # rows written before turn recall was recorded get it from their context when the summary is made again
    (out / "predictions.jsonl").write_text(
        "".join(json.dumps({k: v for k, v in r.items() if k != "turn_recall"}) + "\n" for r in rows)
    )
    again = lme.main(argv, engine=engine, embedder=embedder)
    assert again["scores"]["rag-hybrid"]["all"]["turn_recall"] == 1.0
    assert "evidence-turn recall" in (out / "summary.md").read_text()
    assert again["paired_turn_recall"]["rag-hybrid - rag"]["n"] == 1  # q1 only: q2_abs has no marked turn
    assert "f1" not in summary["scores"]["rag"]["all"] and "evidence-session recall" in (out / "summary.md").read_text()
    with pytest.raises(SystemExit, match="not none .*Fix: --systems rag,rag-hybrid,edgemem"):
        lme.main([*argv[:2], "--systems", "rag,none", "--retrieval-only", "--out", str(out)], engine, embedder)
