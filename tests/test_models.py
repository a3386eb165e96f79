"""Model registry, chunk assembly and checks, and the real embedder. Run: .venv/bin/pytest tests/test_models.py"""

import hashlib

import numpy as np
import pytest

from edgemem import models
from edgemem.errors import ModelCorrupt, ModelNotFound
from edgemem.models import ModelSpec, check_gguf, resolve_model


@pytest.fixture
def fake_packaged(tmp_path, monkeypatch):
    """A chunked model in two fake 'packages' (real files), registered under the name 'fake'."""
    payload = b"GGUF" + bytes(range(256)) * 40
    dirs = {}
    for i, part in enumerate((payload[:5000], payload[5000:]), start=1):
        d = tmp_path / "site" / f"fake_part{i}"
        (d / "data").mkdir(parents=True)
        (d / "data" / f"part{i:02d}.bin").write_bytes(part)
        dirs[f"fake_part{i}"] = d
    spec = ModelSpec("fake", "Fake", ("fake-part1", "fake-part2"), hashlib.sha256(payload).hexdigest(), len(payload))
    monkeypatch.setitem(models.REGISTRY, "fake", spec)
    monkeypatch.setattr(models, "package_dir", lambda m: dirs.get(m))
    monkeypatch.setenv("EDGEMEM_HOME", str(tmp_path / "home"))
    return payload, dirs


def test_assembles_verifies_and_reuses(fake_packaged, tmp_path):
    payload, _ = fake_packaged
    path = resolve_model("fake")
    assert path == tmp_path / "home" / "models" / "fake.gguf" and path.read_bytes() == payload
    mtime = path.stat().st_mtime_ns
    assert resolve_model("fake").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert not list(path.parent.glob("*.partial-*"))


def test_damaged_cache_copy_is_detected_and_removed(fake_packaged):
    path = resolve_model("fake")
    with path.open("r+b") as f:
        f.seek(100)
        f.write(b"\x00\x01")
    with pytest.raises(ModelCorrupt, match="does not match the pinned sha256"):
        resolve_model("fake")
    assert not path.exists()
    assert resolve_model("fake").exists()  # rebuilt from the packages


def test_damaged_chunk_leaves_nothing_behind(fake_packaged, tmp_path):
    _, dirs = fake_packaged
    (dirs["fake_part2"] / "data" / "part02.bin").write_bytes(b"garbage")
    with pytest.raises(ModelCorrupt, match="force-reinstall"):
        resolve_model("fake")
    assert list((tmp_path / "home" / "models").iterdir()) == []


def test_missing_package_names_the_pip_command(fake_packaged, monkeypatch):
    monkeypatch.setattr(models, "package_dir", lambda m: None)
    with pytest.raises(ModelNotFound, match="pip install fake-part1 fake-part2"):
        resolve_model("fake")


def test_paths(tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist. Known model names"):
        resolve_model(tmp_path / "nope.gguf")
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"<html>not a model</html>")
    with pytest.raises(ModelCorrupt, match="not a GGUF file"):
        check_gguf(bad)
    with pytest.raises(ModelNotFound, match="directory"):
        check_gguf(tmp_path)


def test_list_models_reports_each_registry_entry():
    rows = {m.name: m for m in models.list_models()}
    assert set(rows) == set(models.REGISTRY)
    assert rows["smollm2-135m"].installed  # the test environment installs it
    assert "--no-deps" in rows["smollm2-135m"].install


def test_packaged_smollm2_matches_pinned_hash(smol_path):
    assert models.sha256_file(smol_path) == models.REGISTRY["smollm2-135m"].sha256


def test_embedder_real(embedder):
    v = embedder.embed(["Sam lives in Oslo", "Sam's home is in Oslo, Norway", "The GDP of Brazil grew in 2010", ""])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-4)
    assert v[0] @ v[1] > 0.6 > v[0] @ v[2]
    batch = embedder.embed([f"text number {i}" for i in range(70)])  # more than one batch
    assert np.allclose(batch[5], embedder.embed_one("text number 5"), atol=1e-5)


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """A made-up adapter registered for smollm2-135m and installed (the bytes are not a real LoRA: nothing
    loads it)."""
    built = tmp_path / "built.gguf"
    built.write_bytes(b"GGUF fake adapter")
    spec = models.AdapterSpec("answer-smol", "smollm2-135m", "answer", "answer-smol.gguf", "card.md", "make x")
    monkeypatch.setattr(models, "SHIPPED_ADAPTERS", (spec,))
    monkeypatch.setattr(models, "adapters_dir", lambda: tmp_path / "adapters")
    assert models.shipped_adapters("smollm2-135m") == {}  # registered, not installed: the untrained agents
    return models.install_adapter(spec, built)


def test_shipped_adapters_are_those_of_the_model_and_checked(shipped):
    assert models.shipped_adapters("smollm2-135m") == {"answer": shipped}
    assert models.shipped_adapters("qwen2.5-coder-1.5b") == {}
    assert models.shipped_adapters(str(shipped.parent / "own.gguf")) == {}  # a path: the user's own model
    assert {m.name: m.adapters for m in models.list_models()}["smollm2-135m"] == ("answer-smol",)
    shipped.write_bytes(b"GGUF changed")
    with pytest.raises(ModelCorrupt, match="--no-adapters"):
        models.shipped_adapters("smollm2-135m")


def test_memory_serves_the_shipped_adapters_unless_told_otherwise(shipped, tmp_path, monkeypatch, embedder):
    """adapters=None (the default) serves the shipped ones; {} none; a dict its own; a manifest its own."""
    import json

    from edgemem import Memory

    seen = []

    class Recorder:  # stands in for LlamaEngine: records what it would load
        def __init__(self, path, **kw):
            seen.append(kw["adapters"])

        def close(self):
            pass

    monkeypatch.setattr("edgemem.memory.LlamaEngine", Recorder)
    for settings in ({}, {"adapters": {}}, {"adapters": {"answer": "mine.gguf"}}):
        with Memory(None, model="smollm2-135m", embedder=embedder, **settings) as mem:
            assert isinstance(mem.engine, Recorder)
    assert seen == [{"answer": shipped}, {}, {"answer": "mine.gguf"}]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": 1, "kind": "lora", "base": {"id": "smollm2-135m"}, "adapters": {}}))
    with Memory(None, model=str(manifest), embedder=embedder) as mem:
        assert isinstance(mem.engine, Recorder)
    assert len(seen) == 4 and seen[-1] == {}  # a manifest's adapters (none here), not the shipped ones


def test_adapters_setting_is_checked():
    from edgemem import MemoryConfig
    from edgemem.errors import InvalidInput

    with pytest.raises(InvalidInput, match="adapters="):
        MemoryConfig(adapters={"answerer": "x.gguf"})


@pytest.mark.parametrize("spec", models.SHIPPED_ADAPTERS, ids=lambda s: s.name)
def test_each_registered_adapter_has_a_card_and_a_build(spec, tmp_path, monkeypatch):
    """A registered adapter names a known base model and agent, a model card in docs/ and a make target
    that builds and installs it; until it is installed, nothing is applied."""
    from conftest import ROOT

    assert spec.base in models.REGISTRY and spec.agent in ("answer", "manager")
    assert (ROOT / spec.card).exists()
    target = spec.build.removeprefix("make ")
    assert f"\n{target}:" in (ROOT / "Makefile").read_text()
    monkeypatch.setattr(models, "adapters_dir", lambda: tmp_path)
    assert models.shipped_adapters(spec.base) == {}
