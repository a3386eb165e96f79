"""The local LLM judges (benchmarks/judge.py): LongMemEval's rule per question type, abstention scored by
rule, agreement with hand labels (benchmarks/judge_agreement.py), the hand-label file, and the judge pass
of the LongMemEval harness, with a scripted judge for control flow and the real model.
Run: .venv/bin/pytest tests/test_judge.py"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fakes import EchoEngine

from benchmarks import judge, judge_agreement
from benchmarks import longmemeval as lme
from edgemem.engine import Completion
from edgemem.errors import InvalidInput

LABELS = Path(__file__).parent.parent / "benchmarks" / "data" / "longmemeval_judge_labels.tsv"


class Scripted(EchoEngine):
    """A judge that says CORRECT when the generated answer contains the gold answer's first word, and WRONG
    to every abstention prompt (as the small judges mostly do); it records the prompts it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.prompts: list[str] = []

    def complete(self, messages, **kwargs):
        prompt = messages[-1]["content"]
        self.prompts.append(prompt)
        gold = prompt.split("\nCorrect answer: ", 1)[-1].split("\nExplanation: ", 1)[-1].split("\n", 1)[0]
        pred = prompt.split("\nGenerated answer: ", 1)[1].split("\n", 1)[0]
        ok = "Explanation: " not in prompt and gold.split()[0] in pred
        return Completion(json.dumps({"label": "CORRECT" if ok else "WRONG"}), 10, 5, 0, 0.0, 0.0, 0.0)


def test_doctests():
    import doctest

    assert doctest.testmod(judge).failed == 0


@pytest.mark.parametrize(
    ("qtype", "abstention", "says"),
    [
        ("single-session-user", False, "only part of what the correct answer needs"),
        ("single-session-assistant", False, "equivalent to it"),
        ("multi-session", False, "contains the correct answer"),
        ("temporal-reasoning", False, "off by one"),
        ("knowledge-update", False, "updated value"),
        ("single-session-preference", False, "Rubric: "),
        ("knowledge-update", True, "Explanation: "),
    ],
)
def test_each_question_type_gets_its_rule(qtype, abstention, says):
    prompt = judge.lme_prompt(qtype, "Where do I live?", "Rome", "Rome, Italy", abstention)
    assert says in prompt and "Generated answer: Rome, Italy" in prompt and '{"label": "CORRECT"}' in prompt
    if not abstention:
        assert ("off by one" in prompt) == (qtype == "temporal-reasoning")


def test_an_unknown_type_and_bad_labels_say_what_to_fix(tmp_path):
    with pytest.raises(ValueError, match="no judging rule for question type 'chit-chat'"):
        judge.lme_prompt("chit-chat", "q", "a", "p", False)
    bad = tmp_path / "labels.tsv"
    bad.write_text("system\tquestion_id\tlabel\tnote\nrag\tq1\tyes\tx\n")
    with pytest.raises(InvalidInput, match="labels.tsv:2: label 'yes'. Fix: 1"):
        judge.read_labels(bad)
    bad.write_text("system\tquestion_id\tlabel\tnote\nrag q1 1\n")
    with pytest.raises(InvalidInput, match="labels.tsv:2: 1 tab-separated field"):
        judge.read_labels(bad)
    with pytest.raises(ValueError, match="as many judged labels"):
        judge.agreement([1, 0], [1])


def test_abstention_is_scored_by_rule_without_a_model_call():
    scripted = Scripted()
    assert judge.lme_label(scripted, "multi-session", "How many?", "why not", "Not mentioned.", True) == 1
    assert judge.lme_label(scripted, "multi-session", "How many?", "why not", "3", True) == 0
    assert scripted.prompts == []
    assert judge.lme_label(scripted, "multi-session", "How many?", "3", "3 times", False) == 1
    assert len(scripted.prompts) == 1


def test_agreement_counts_both_kinds_of_disagreement():
    a = judge.agreement([1, 1, 1, 0, 0, 0], [1, 1, 0, 1, 0, 0])
    assert a["agreement"] == pytest.approx(4 / 6) and a["judge_too_generous"] == 1 and a["judge_too_strict"] == 1
    assert judge.agreement([1, 0], [1, 0])["kappa"] == 1.0 and judge.agreement([1, 1], [1, 1])["kappa"] == 1.0


def test_the_committed_hand_labels_cover_forty_answers():
    labels = judge.read_labels(LABELS)
    assert len(labels) == 40 and 10 <= sum(labels.values()) <= 30  # neither side a small minority
    assert {s for s, _ in labels} == {"none", "rag", "rag-hybrid", "edgemem"}


def test_agreement_run_on_a_labelled_file(tmp_path):
    """benchmarks.judge_agreement: every labelled answer is scored as the harness does, the judge's own
    abstention labels are measured apart, disagreements are listed."""
    from test_longmemeval import QUESTIONS

    data = tmp_path / "lme.json"
    data.write_text(json.dumps(QUESTIONS))
    preds = tmp_path / "predictions.jsonl"
    rows = [("rag", "q1", "Rome"), ("none", "q1", "Not mentioned"), ("rag", "q2_abs", "Not mentioned")]
    preds.write_text("".join(json.dumps({"system": s, "question_id": q, "prediction": p}) + "\n" for s, q, p in rows))
    labels = tmp_path / "labels.tsv"
    labels.write_text(
        "system\tquestion_id\tlabel\tnote\nrag\tq1\t1\t\nnone\tq1\t1\twrong on purpose\nrag\tq2_abs\t1\t\n"
    )
    out = tmp_path / "agreement.json"
    scripted = Scripted()
    argv = [
        "--data",
        str(data),
        "--predictions",
        str(preds),
        "--labels",
        str(labels),
        "--judge",
        "s",
        "--out",
        str(out),
    ]
    result = judge_agreement.main(argv, engines={"s": scripted})
    entry = result["judges"]["s"]
    assert entry["as_scored"]["n"] == 3 and entry["as_scored"]["agreement"] == pytest.approx(2 / 3)
    assert entry["answerable"]["n"] == 2 and entry["answerable"]["judge_too_strict"] == 1
    assert entry["abstention_by_judge"] == judge.agreement([1], [0]) and result["abstention_rule"]["agreement"] == 1
    assert len(scripted.prompts) == 3  # two answerable, one abstention prompt measured apart
    assert entry["disagreements"] == [{"system": "none", "question_id": "q1", "hand": 1, "scored": 0}]
    assert result["answerable_exact_match"] == judge.agreement([1, 1], [1, 0])  # "Not mentioned" is not "Rome"
    assert json.loads(out.read_text())["judges"]["s"]["as_scored"]["n"] == 3


def test_the_longmemeval_harness_judges_a_finished_run_without_answering_again(tmp_path, embedder, monkeypatch):
    from test_longmemeval import QUESTIONS

    data = tmp_path / "lme.json"
    data.write_text(json.dumps(QUESTIONS))
    out = tmp_path / "run"
    argv = ["--data", str(data), "--systems", "none,rag", "--out", str(out)]
    lme.main(argv, engine=EchoEngine(), embedder=embedder)
    scripted = Scripted()
    monkeypatch.setattr("edgemem.engine.LlamaEngine", lambda *a, **k: scripted)

    class Refuses(EchoEngine):
        def complete(self, messages, **kwargs):
            raise AssertionError("a finished run was answered again")

    summary = lme.main([*argv, "--judge", "qwen2.5-coder-0.5b"], engine=Refuses(), embedder=embedder)
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and all(r["judge"] in (0, 1) and r["judge_model"] == "qwen2.5-coder-0.5b" for r in rows)
    assert all(r["judge"] == r["em"] for r in rows if r["abstention"])  # the rule, not the model
    assert len(scripted.prompts) == 2 and "not the GPT-4o judge" in summary["judge"]
    assert summary["scores"]["rag"]["all"]["judge"] == pytest.approx(
        50 * sum(r["judge"] for r in rows if r["system"] == "rag")
    )
    assert "Judged right" in (out / "summary.md").read_text() and summary["paired_judge"]["none - rag"]["n"] == 2
    lme.main([*argv, "--judge", "qwen2.5-coder-0.5b"], engine=Refuses(), embedder=embedder)
    assert len(scripted.prompts) == 2  # judged once per judge model


@pytest.mark.slow
def test_the_real_judge_tells_a_right_answer_from_a_wrong_one(qwen_engine):
    right = judge.lme_prompt("single-session-user", "What is my cat's name?", "Luna", "Luna", False)
    wrong = judge.lme_prompt("single-session-user", "What is my cat's name?", "Luna", "Not mentioned", False)
    assert judge.label(qwen_engine, right) == 1 and judge.label(qwen_engine, wrong) == 0
