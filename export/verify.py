"""Fidelity and speed of an exported GGUF, measured against the merged Hugging Face model.

Probes are agent prompts rendered by the runtime (extraction, manager and answer calls over the demo
conversation). For each probe:
- exact: the GGUF's greedy output equals the HF model's greedy output;
- next-token agreement: teacher-forced along the HF output, how often the GGUF's arg-max token is the
  HF token (robust to one early divergence, which makes "exact" drop to 0 for the rest);
- manager parse rate: the share of manager probes whose (unconstrained) GGUF output parses.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgemem import prompts
from edgemem.demo import load_demo
from edgemem.errors import ModelOutputError
from edgemem.parsing import parse_operations

MAX_NEW = 48


def probes(n: int = 6) -> list[tuple[str, list[dict[str, str]]]]:
    """(kind, messages) pairs built from the demo conversation, the same for every export."""
    demo = load_demo()
    turns = demo.turns
    memories = [(t.time, f"{t.speaker}: {t.text}") for t in turns]
    out: list[tuple[str, list[dict[str, str]]]] = []
    for i, t in enumerate(turns[: max(1, n // 3)]):
        out.append(("extract", prompts.extraction_messages(t.speaker, t.text, t.time)))
        shown = [m[1] for m in memories[max(0, i - 2) : i + 1]]
        out.append(("manage", prompts.manager_messages([f"{t.speaker} said: {t.text}"], shown, t.time)))
    for q in demo.questions[: max(1, n // 3)]:
        out.append(("answer", prompts.answer_messages(q["question"], [("the conversation", memories)])))
    return out[:n]


def hf_greedy(model: Any, tokenizer: Any, prompt_ids: list[int]) -> list[int]:
    import torch

    with torch.no_grad():
        ids = torch.tensor([prompt_ids])
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=MAX_NEW, do_sample=False)
    new = out[0, len(prompt_ids) :].tolist()
    eos = {
        tokenizer.eos_token_id,
        *(tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>") if t in tokenizer.get_vocab()),
    }
    for i, tok in enumerate(new):
        if tok in eos:
            return new[:i]
    return new


def fidelity(gguf: Path, hf_model: Any, tokenizer: Any, n_probes: int, threads: int) -> dict[str, Any]:
    from edgemem.engine import LlamaEngine, load_llama

    engine = LlamaEngine(gguf, n_ctx=4096, threads=threads, constrained=False)
    scorer = load_llama(gguf, n_ctx=4096, n_threads=threads, n_threads_batch=threads, logits_all=True, verbose=False)
    exact, agree, parsed, managers = [], [], 0, 0
    try:
        for kind, msgs in probes(n_probes):
            prompt_ids = engine.tokenize_messages(msgs)
            ref = hf_greedy(hf_model, tokenizer, prompt_ids)
            text = engine.complete(msgs, max_tokens=MAX_NEW).text
            exact.append(float(text.strip() == tokenizer.decode(ref, skip_special_tokens=True).strip()))
            if ref:
                scorer.reset()
                scorer.eval(prompt_ids + ref)
                logits = np.asarray(scorer.scores[len(prompt_ids) - 1 : len(prompt_ids) - 1 + len(ref)])
                agree.append(float(np.mean(logits.argmax(axis=1) == np.asarray(ref))))
            if kind == "manage":
                managers += 1
                try:
                    parse_operations(text, 3)
                    parsed += 1
                except ModelOutputError:
                    pass
    finally:
        scorer.close()
        engine.close()
    return {
        "probes": len(exact),
        "exact_match": statistics.fmean(exact) if exact else None,
        "next_token_agreement": statistics.fmean(agree) if agree else None,
        "manager_parse_rate": parsed / managers if managers else None,
        "max_new_tokens": MAX_NEW,
    }


def speed(gguf: Path, threads: int, adapter: Path | None = None) -> dict[str, Any]:
    from edgemem.engine import LlamaEngine

    t0 = time.perf_counter()
    engine = LlamaEngine(gguf, n_ctx=2048, threads=threads, adapters={"answer": adapter} if adapter else None)
    load_s = time.perf_counter() - t0
    msgs = [{"role": "user", "content": "Write a long story about a lighthouse keeper. " * 20}]
    try:
        c = engine.complete(msgs, max_tokens=64, adapter="answer" if adapter else None)
    finally:
        engine.close()
    return {
        "load_s": load_s,
        "prefill_tok_s": c.prompt_tokens / c.prefill_s if c.prefill_s else None,
        "decode_tok_s": c.completion_tokens / c.decode_s if c.decode_s else None,
        "threads": threads,
    }
