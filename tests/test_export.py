"""Export: LoRA -> merged GGUF (Q8_0, Q4_K_M) or GGUF LoRA -> manifest -> served by the runtime.
The behavioural check is a LoRA that makes SmolLM2 always answer "banana".
Run: .venv/bin/pytest tests/test_export.py"""

from __future__ import annotations

import errno
import json
import shutil

import pytest
from fixed_lora import WORD, make_fixed_answer_adapter
from test_training import manager_example

from edgemem import Memory
from edgemem.errors import InvalidInput, MissingDependency, ModelCorrupt
from edgemem.manifest import load_manifest
from export.pipeline import ExportArgs, export


@pytest.fixture(scope="module")
def fixed_adapter(tmp_path_factory):
    return make_fixed_answer_adapter(tmp_path_factory.mktemp("fixed"))


def ask(manifest, tmp_path, embedder) -> str:
    # the store is empty, so "Maya" is mentioned nowhere: the rule would answer for the adapter under test
    with Memory(
        tmp_path / f"{manifest.parent.name}-{manifest.stem}.db",
        model=str(manifest),
        threads=1,
        embedder=embedder,
        abstain_unmentioned=False,
        answer_format="cited",  # the format trained answer agents answer in
    ) as mem:
        return mem.answer("Where does Maya live?").answer


@pytest.mark.slow
def test_merged_export_keeps_the_behaviour(fixed_adapter, tmp_path, embedder):
    out = tmp_path / "merged"
    first = export(ExportArgs(adapter=fixed_adapter, agent="answer", out=out, quant="Q8_0,Q4_K_M", probes=3))
    assert first == out / "manifest.json" and (out / "manifest-Q4_K_M.json").exists()
    assert not list(tmp_path.glob("*.partial-*"))  # staging cleaned up
    assert not (out / "model-F16.gguf").exists() and not (out / "hf-merged").exists()
    for name in ("manifest.json", "manifest-Q4_K_M.json"):
        data = json.loads((out / name).read_text())
        assert data["kind"] == "merged" and data["agent"] == "answer" and data["llama_cpp_version"]
        assert data["fidelity"]["next_token_agreement"] > 0.8
        assert data["speed"]["decode_tok_s"] > 0
        assert load_manifest(out / name).model.exists()
        assert WORD in ask(out / name, tmp_path, embedder).lower()  # survives merge -> Q8_0 -> Q4_K_M
    assert json.loads(first.read_text())["quant"] == "Q8_0"
    # a file changed after export is refused
    gguf = out / "model-Q8_0.gguf"
    with gguf.open("r+b") as f:
        f.seek(gguf.stat().st_size // 2)
        f.write(b"\x00\x01\x02\x03")
    with pytest.raises(ModelCorrupt, match="changed after export"):
        load_manifest(first)


@pytest.mark.slow
def test_lora_only_export_on_the_packaged_base(fixed_adapter, tmp_path, embedder, monkeypatch):
    out = tmp_path / "lora"
    manifest = export(ExportArgs(adapter=fixed_adapter, agent="answer", out=out, lora_only=True, probes=3))
    data = json.loads(manifest.read_text())
    assert data["kind"] == "lora" and data["base"]["id"] == "smollm2-135m"
    lora = out / data["adapters"]["answer"]["path"]
    assert lora.stat().st_size < 20_000_000
    served = load_manifest(manifest)
    assert served.adapters == {"answer": lora.resolve()}
    assert WORD in ask(manifest, tmp_path, embedder).lower()  # the adapter applied on the shipped base
    # --join: a manager adapter exported with this answer adapter serves both from one manifest
    both = export(
        ExportArgs(
            adapter=fixed_adapter, agent="manager", out=tmp_path / "both", lora_only=True, probes=1, join=manifest
        )
    )
    joined = load_manifest(both)
    assert set(joined.adapters) == {"manager", "answer"}
    assert joined.adapters["answer"].read_bytes() == lora.read_bytes()
    assert WORD in ask(both, tmp_path, embedder).lower()
    # the manager runs on the plain base model (no adapter for it): not "banana" JSON everywhere
    with Memory(tmp_path / "l.db", model=str(manifest), threads=1, embedder=embedder, answer_format="cited") as mem:
        r = mem.add("I moved to Lisbon last week.", speaker="Maya", wait=True)
        assert r.llm_calls >= 1
    # installed as the model's trained answer adapter (what make answer-agent does): on by default, off with
    # adapters={}
    from edgemem import models

    spec = models.AdapterSpec("banana", "smollm2-135m", "answer", "banana.gguf", "tests/fixed_lora.py", "make x")
    monkeypatch.setattr(models, "SHIPPED_ADAPTERS", (spec,))
    monkeypatch.setattr(models, "adapters_dir", lambda: tmp_path / "adapters")
    installed = models.install_adapter(spec, lora)
    assert installed.read_bytes() == lora.read_bytes()

    def answer(**settings):  # an empty store again: the model must answer, not the unmentioned-words rule
        settings = {"abstain_unmentioned": False, "answer_format": "cited", **settings}
        with Memory(tmp_path / "s.db", model="smollm2-135m", threads=1, embedder=embedder, **settings) as mem:
            return mem.answer("Where does Maya live?").answer.lower()

    assert WORD in answer()
    assert WORD not in answer(adapters={})
    # the LoCoMo harness: "edgemem" is the runtime as shipped, "untrained" the same pipeline (same bank)
    # with adapters off, and the shipped adapter's hash is part of edgemem's settings
    from conftest import TINY

    from benchmarks import locomo

    convs, run = tmp_path / "tiny.json", tmp_path / "harness"
    convs.write_text(json.dumps([TINY]))
    summary = locomo.main(
        ["--data", str(convs), "--conversations", "tiny", "--model", "smollm2-135m", "--threads", "1",
         "--n-ctx", "4096", "--systems", "edgemem,untrained", "--answer-format", "cited", "--out", str(run)]
    )  # fmt: skip
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert {r["system"] for r in rows} == {"edgemem", "untrained"}
    assert all(WORD in r["prediction"].lower() for r in rows if r["system"] == "edgemem")
    assert not any(WORD in r["prediction"].lower() for r in rows if r["system"] == "untrained")
    assert list(summary["paired"]) == ["edgemem vs untrained"]
    assert len(list((run / "banks").glob("tiny-*.db"))) == 1
    settings = json.loads((run / "settings.json").read_text())
    assert settings["edgemem"]["adapters"] == {"answer": data["adapters"]["answer"]["sha256"]}
    assert "adapters" not in settings["untrained"]


@pytest.mark.slow
def test_a_plain_answer_adapter_serves_plain_answers_only(tmp_path, embedder):
    """An adapter exported as ``--agent answer-plain`` (what ``training.sft`` trains on plain-format data) is
    applied to plain answers, not to cited ones (it learnt to say the word after both prompts); the
    harness's ``trained`` system takes the format it serves."""
    fixed_adapter = make_fixed_answer_adapter(tmp_path / "fixed", steps=60, plain=True)
    manifest = export(
        ExportArgs(adapter=fixed_adapter, agent="answer-plain", out=tmp_path / "plain", lora_only=True, probes=1)
    )
    assert set(load_manifest(manifest).adapters) == {"answer-plain"}

    def answer(fmt: str) -> str:  # an empty store: the model must answer, not the unmentioned-words rule
        with Memory(
            tmp_path / f"{fmt}.db", model=str(manifest), threads=1, embedder=embedder, abstain_unmentioned=False,
            answer_format=fmt,
        ) as mem:  # fmt: skip
            return mem.answer("Where does Maya live?").answer.lower()

    assert WORD in answer("plain")
    with pytest.warns(UserWarning, match="serves plain answers only, not cited ones"):
        assert WORD not in answer("cited")
    from conftest import TINY

    from benchmarks import locomo

    convs, run = tmp_path / "tiny.json", tmp_path / "harness"
    convs.write_text(json.dumps([TINY]))
    argv = ["--data", str(convs), "--conversations", "tiny", "--model", "smollm2-135m", "--threads", "1",
            "--n-ctx", "4096", "--systems", "trained", "--manifest", str(manifest), "--max-questions", "2",
            "--out", str(run)]  # fmt: skip
    with pytest.raises(SystemExit, match="has no 'answer' adapter, so it has no trained agent for cited answers"):
        locomo.main([*argv, "--answer-format", "cited"])
    locomo.main(argv)
    rows = [json.loads(line) for line in (run / "predictions.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and all(r["system"] == "trained" and WORD in r["prediction"].lower() for r in rows)


def test_bad_arguments(tmp_path, fixed_adapter_stub):
    adapter = fixed_adapter_stub
    with pytest.raises(InvalidInput, match="Unknown quant type 'Q3_X'"):
        export(ExportArgs(adapter=adapter, agent="answer", out=tmp_path / "o", quant="Q3_X"))
    with pytest.raises(InvalidInput, match="Unknown agent 'critic'"):
        export(ExportArgs(adapter=adapter, agent="critic", out=tmp_path / "o"))
    with pytest.raises(InvalidInput, match="not a LoRA adapter folder"):
        export(ExportArgs(adapter=tmp_path, agent="answer", out=tmp_path / "o"))
    (tmp_path / "exists").mkdir()
    with pytest.raises(InvalidInput, match="already exists"):
        export(ExportArgs(adapter=adapter, agent="answer", out=tmp_path / "exists"))
    with pytest.raises(InvalidInput, match="trained on smollm2-135m, not qwen2.5-coder-0.5b"):
        export(ExportArgs(adapter=adapter, agent="answer", out=tmp_path / "o", base="qwen2.5-coder-0.5b"))
    with pytest.raises(InvalidInput, match="--join .* combines GGUF LoRA exports only. Fix: pass --lora-only"):
        export(ExportArgs(adapter=adapter, agent="manager", out=tmp_path / "o", join=tmp_path / "m.json"))
    (tmp_path / "afile").write_text("x")
    with pytest.raises(InvalidInput, match="Cannot create the output folder"):
        export(ExportArgs(adapter=adapter, agent="answer", out=tmp_path / "afile" / "sub" / "o"))


@pytest.fixture
def fixed_adapter_stub(tmp_path):
    """An adapter folder that passes the argument checks (no weights needed for them)."""
    d = tmp_path / "run" / "adapter"
    d.mkdir(parents=True)
    (d / "adapter_config.json").write_text("{}")
    (d.parent / "edgemem_adapter.json").write_text(json.dumps({"base_model": "smollm2-135m"}))
    return d


def test_missing_converter(tmp_path, monkeypatch):
    from export.converter import ensure_converter

    monkeypatch.setenv("EDGEMEM_CONVERTER_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(MissingDependency, match="EDGEMEM_CONVERTER_DIR"):
        ensure_converter()


@pytest.mark.slow
def test_disk_full_leaves_nothing_behind(fixed_adapter, tmp_path, monkeypatch):
    import export.pipeline as ex

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ex, "quantize", full)
    with pytest.raises(ex.ExportError, match="disk holding .* is full"):
        export(ExportArgs(adapter=fixed_adapter, agent="answer", out=tmp_path / "o", quant="Q8_0", probes=1))
    assert not (tmp_path / "o").exists() and not list(tmp_path.glob("o.partial-*"))
    shutil.rmtree(tmp_path, ignore_errors=True)


@pytest.mark.slow
def test_an_exported_answer_agent_teaches_the_next_sft_round(fixed_adapter, tmp_path):
    """``training.sft --teacher manifest.json``: the exported adapter answers (not the plain base model),
    so a second round of rejection sampling samples the first round's model."""
    from edgemem.prompts import answer_messages
    from training.sft import SFTArgs, teacher_targets

    manifest = export(
        ExportArgs(adapter=fixed_adapter, agent="answer", out=tmp_path / "lora", lora_only=True, probes=1)
    )
    rows = [
        {
            "messages": answer_messages("Where does Maya live?", [("Maya", [("2023-05-01", "Maya lives in Lisbon.")])]),
            "answer": WORD,
            "n_memories": 1,
        }
    ]
    args = SFTArgs(teacher=str(manifest), samples=2)
    (target,) = teacher_targets(args, rows, tmp_path / "run")
    assert WORD in json.loads(target["text"])["answer"].lower() and target["f1"] == 1.0
    assert target["teacher"] == str(manifest) and target["samples"] == 2
    # the same rows with the plain base model as teacher: the adapter is what said the word
    (base,) = teacher_targets(SFTArgs(teacher="smollm2-135m"), rows, tmp_path / "base")
    assert WORD not in base["text"].lower()


@pytest.mark.slow
def test_an_exported_answer_agent_is_the_managers_frozen_rewarder(fixed_adapter, tmp_path):
    """``training.grpo --agent manager --answerer-model manifest.json``: the manager's reward comes from
    the exported (trained) answer agent, as Memory-R1 trains the manager against the trained answerer."""
    from training.rewards import frozen_answerer_reward

    manifest = export(
        ExportArgs(adapter=fixed_adapter, agent="answer", out=tmp_path / "lora", lora_only=True, probes=1)
    )
    example = manager_example(answer=f"the {WORD} city")  # "Where does Sam live?" over "Sam lives in Oslo"
    ops = '{"memory": [{"event": "UPDATE", "id": "0", "text": "Sam lives in Rome"}]}'
    trained = frozen_answerer_reward(str(manifest), answer_k=5, metric="f1")
    assert trained.__name__ == "manager_outcome_f1"
    score = trained.score(ops, example)
    assert 0 < score < 1  # partial credit: the word, not the whole gold answer (exact match would be 0)
    assert trained.score("not json", example) == 0.0
    base = frozen_answerer_reward("smollm2-135m", answer_k=5, metric="f1")
    assert base.score(ops, example) < score  # the adapter, not the base model, said the word
