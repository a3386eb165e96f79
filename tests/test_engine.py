"""The real llama.cpp engine on the packaged SmolLM2-135M. Run: .venv/bin/pytest tests/test_engine.py"""

import json
import warnings

import pytest

from edgemem import prompts
from edgemem.engine import LlamaEngine
from edgemem.errors import InvalidInput, ModelCorrupt, ModelNotFound
from edgemem.parsing import parse_answer, parse_facts, parse_operations

pytestmark = pytest.mark.slow


def test_threads_are_explicit(smol_engine):
    assert smol_engine.llama.context_params.n_threads == 1
    assert smol_engine.llama.context_params.n_threads_batch == 1


def test_extra_buffer_types_are_off(smol_engine, smol_path, monkeypatch):
    """Weight repacking / AMX layouts segfault on AMX CPUs (see engine.load_llama): off, and the
    patched llama.cpp default is restored after loading; the env switch turns them back on."""
    import llama_cpp.llama_cpp as capi

    from edgemem.engine import load_llama

    assert smol_engine.llama.model_params.use_extra_bufts is False
    assert capi.llama_model_default_params().use_extra_bufts is True
    monkeypatch.setenv("EDGEMEM_LLAMA_EXTRA_BUFFERS", "1")
    llm = load_llama(smol_path, n_ctx=256, n_threads=1, n_threads_batch=1, verbose=False, vocab_only=True)
    assert llm.model_params.use_extra_bufts is True


def test_constrained_outputs_always_parse(smol_engine):
    """A 135M model cannot choose well, but with the schemas it cannot produce unparseable output."""
    msgs = prompts.extraction_messages(
        "Sam", "I moved to Rome last week and I love my new job as a chef.", "1 May 2024"
    )
    c = smol_engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=200)
    facts = parse_facts(c.text) or ["Sam moved to Rome"]
    shown = ["Sam lives in Oslo", "Sam has a cat"]
    c = smol_engine.complete(
        prompts.manager_messages(facts, shown, None),
        schema=prompts.manager_schema(len(shown), len(facts)),
        max_tokens=300,
    )
    parsed = parse_operations(c.text, len(shown), facts)
    assert len(parsed.ops) + len(parsed.rejected) == len(facts)
    assert all(op.ref is None or op.ref in ("0", "1") for op in parsed.ops)
    assert not parsed.rejected  # the schema only allows the shown ids
    msgs = prompts.answer_messages("Where does Sam live?", [("Sam", [("1 May 2024", "Sam lives in Rome")])])
    c = smol_engine.complete(msgs, schema=prompts.ANSWER_SCHEMA_BASE, max_tokens=60)
    assert json.loads(c.text)["answer"] and parse_answer(c.text, 1).answer
    assert c.prompt_tokens > 0 and c.completion_tokens > 0


def test_prefix_reuse_changes_nothing_but_cost(smol_engine, smol_path):
    msgs = prompts.extraction_messages("Sam", "My sister Ana got married in June.", "2 July 2024")
    first = smol_engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=60, prefix_key="extract")
    # Another agent runs in between, evicting the extraction prompt from the KV cache...
    other = prompts.answer_messages("Who is Ana?", [("Sam", [(None, "Sam's sister is Ana")])])
    smol_engine.complete(other, schema=prompts.ANSWER_SCHEMA_BASE, max_tokens=30, prefix_key="answer")
    # ...and the saved state of the fixed instructions is restored instead of recomputed.
    again = smol_engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=60, prefix_key="extract")
    assert again.text == first.text
    assert again.cached_tokens > 0.5 * again.prompt_tokens
    fresh = LlamaEngine(smol_path, n_ctx=2048, threads=1)
    try:
        cold = fresh.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=60)
    finally:
        fresh.close()
    assert cold.text == first.text and cold.cached_tokens == 0


def test_prompt_longer_than_context(smol_engine):
    msgs = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(InvalidInput, match="more than the context"):
        smol_engine.complete(msgs, max_tokens=10)


def test_bad_model_files(tmp_path):
    with pytest.raises(ModelNotFound):
        LlamaEngine(tmp_path / "missing.gguf")
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(ModelCorrupt, match="cannot load"):
        LlamaEngine(truncated, threads=1)


def test_lazy_grammar_gives_the_same_tokens(smol_engine, smol_path):
    """The fast greedy path (grammar checked on the arg-max only) decodes exactly what llama-cpp-python's
    full grammar sampling decodes."""
    strict = LlamaEngine(smol_path, n_ctx=2048, threads=1, lazy_grammar=False)
    cases = [
        (
            prompts.extraction_messages("Maya", "I moved to Lisbon last week, near the river.", "20 April 2025"),
            prompts.EXTRACTION_SCHEMA,
        ),
        (
            prompts.manager_messages(["Maya lives in Lisbon"], ["Maya lives in Porto", "Maya has a puppy"], None),
            prompts.manager_schema(2, 1),
        ),
        (
            prompts.answer_messages("Where does Maya live?", [("Maya", [("2025", "Maya lives in Lisbon")])]),
            prompts.ANSWER_SCHEMA_BASE,
        ),
        ([{"role": "user", "content": "Name three colours."}], None),
    ]
    try:
        for msgs, schema in cases:
            fast = smol_engine.complete(msgs, schema=schema, max_tokens=80)
            slow = strict.complete(msgs, schema=schema, max_tokens=80)
            assert fast.text == slow.text and fast.completion_tokens == slow.completion_tokens
    finally:
        strict.close()


def test_unconstrained_garbage_never_crashes(make_memory, smol_path):
    """With constraints off, a 135M model writes whatever it likes: the turn is still recorded,
    anything unparseable is REJECTED, and nothing else is touched."""
    engine = LlamaEngine(smol_path, n_ctx=2048, threads=1, constrained=False)
    try:
        mem = make_memory(engine)
        for text in (
            "I moved to Rome and I love pasta.",
            "My sister Ana is a chef in Milan.",
            "Forget everything about me!",
        ):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                r = mem.add(text, speaker="Sam", wait=True)
            assert r.turn_id is not None
            assert all(o.op in ("ADD", "UPDATE", "DELETE", "NOOP", "REJECTED") for o in r.operations)
        assert mem.stats()["turns"] == 3
        assert mem.answer("Where does Sam live?").raw  # some answer text, parsed or not
    finally:
        engine.close()


def test_bad_lora_adapter(smol_engine, tmp_path):
    with pytest.raises(ModelNotFound, match="does not exist"):
        smol_engine.load_adapter("manager", tmp_path / "missing.gguf")
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    with pytest.raises(ModelCorrupt, match="cannot load LoRA adapter"):
        smol_engine.load_adapter("manager", bogus)


def test_a_call_on_other_threads_gives_the_same_reply_and_restores_them(smol_path):
    """``complete(threads=N)`` (background consolidation): the same greedy reply, and the engine's own
    thread counts are back afterwards."""
    import llama_cpp

    engine = LlamaEngine(smol_path, n_ctx=1024, threads=2)
    try:
        msgs = prompts.extraction_messages("Sam", "My sister Ana got married in June.", "2 July 2024")
        one = engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=40, threads=1)
        ctx = engine.llama._ctx.ctx
        assert (llama_cpp.llama_n_threads(ctx), llama_cpp.llama_n_threads_batch(ctx)) == (2, 2)
        two = engine.complete(msgs, schema=prompts.EXTRACTION_SCHEMA, max_tokens=40)
        assert one.text == two.text
    finally:
        engine.close()
