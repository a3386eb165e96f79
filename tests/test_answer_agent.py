"""training.answer_agent: the rebuild's check against the shipped adapter's answers, and a stopped run
that continues (stages with their output are skipped). The stages themselves run in `make answer-agent`."""

from __future__ import annotations

import json

import pytest

from edgemem import models
from edgemem.errors import InvalidInput
from training import answer_agent


def predictions(path, answers, system="trained"):
    rows = [
        {"system": system, "conversation": "conv-30", "qid": i, "prediction": p, "f1": f1}
        for i, (p, f1) in enumerate(answers)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize(
    "rebuilt,passed,identical",
    [
        ([("Paris", 1.0), ("May", 0.5)], True, 1.0),  # the same answers
        ([("Paris", 1.0), ("June", 0.46)], True, 0.5),  # 2 points lower: within 3
        ([("Rome", 0.0), ("May", 0.5)], False, 0.5),  # 50 points lower
    ],
)
def test_compare_within_tolerance(tmp_path, rebuilt, passed, identical):
    ref = predictions(tmp_path / "ref.jsonl", [("Paris", 1.0), ("May", 0.5)])
    new = predictions(tmp_path / "new.jsonl", rebuilt)
    result = answer_agent.compare(new, ref, tolerance=3.0)
    assert result["passed"] is passed and result["identical_answers"] == identical and result["questions"] == 2


def test_compare_needs_every_reference_question(tmp_path):
    ref = predictions(tmp_path / "ref.jsonl", [("Paris", 1.0), ("May", 0.5)])
    new = predictions(tmp_path / "new.jsonl", [("Paris", 1.0)])
    with pytest.raises(InvalidInput, match="answered 1 of the reference's 2"):
        answer_agent.compare(new, ref, 3.0)
    with pytest.raises(InvalidInput, match="no answers of system 'trained'"):
        answer_agent.compare(predictions(tmp_path / "other.jsonl", [("x", 0.0)], system="rag"), ref, 3.0)


def test_a_finished_run_is_checked_without_running_a_stage_again(tmp_path, monkeypatch):
    out = tmp_path / "run"
    (out / "data").mkdir(parents=True)
    (out / "data" / "answer_train.jsonl").write_text("")
    (out / "sft" / "adapter").mkdir(parents=True)
    (out / "sft" / "adapter" / "adapter_config.json").write_text("{}")
    (out / "export").mkdir()
    adapter = {"path": "answer-lora.gguf", "sha256": "abc"}
    (out / "export" / "manifest.json").write_text(json.dumps({"adapters": {"answer": adapter}}))
    (out / "export" / "answer-lora.gguf").write_bytes(b"GGUF rebuilt")
    monkeypatch.setattr(models, "adapters_dir", lambda: tmp_path / "adapters")
    (out / "conv30").mkdir()
    (out / "conv30" / "summary.json").write_text("{}")
    predictions(out / "conv30" / "predictions.jsonl", [("Paris", 1.0), ("June", 0.0)])
    targets = tmp_path / "targets.jsonl"
    targets.write_text(json.dumps({"i": 0, "teacher": "exports/t/manifest.json", "samples": 8}) + "\n")
    ran = []
    monkeypatch.setattr(answer_agent.subprocess, "run", lambda *a, **k: ran.append(a))
    ref = predictions(tmp_path / "ref.jsonl", [("Paris", 1.0), ("May", 0.5)])
    args = answer_agent.AnswerAgentArgs(out=out, targets=targets, reference=ref, tolerance=30.0)
    result = answer_agent.main(args)
    assert ran == [] and result["passed"] and result["adapter"] == adapter
    # a passed rebuild is installed: the default answer agent of the default model from now on
    assert models.shipped_adapters(None) == {"answer": tmp_path / "adapters" / "answer-qwen2.5-coder-0.5b.gguf"}
    assert (out / "sft" / "targets.jsonl").read_text() == targets.read_text()  # the committed targets, copied
    assert json.loads((out / "check.json").read_text())["difference"] == pytest.approx(-25.0)
    args.tolerance = 3.0
    with pytest.raises(SystemExit):  # 25 points lower: the rebuild fails its check
        answer_agent.main(args)
    args.reference = tmp_path / "missing.jsonl"  # the first build of an adapter to ship: built, not checked
    assert answer_agent.main(args) == {"passed": None}
