"""The LLM engine: one llama.cpp model on CPU serving both agents.

What it adds to a plain ``llama_cpp.Llama``:

- thread counts for prompt reading *and* generation are set explicitly (llama.cpp would otherwise
  use every core for prompt reading, which collapses throughput on a busy 2-core laptop);
- JSON-schema constrained decoding, so extraction and manager outputs always parse;
- prefix reuse per agent: the KV state of each agent's fixed instructions is saved once (only the
  llama.cpp sequence state, a few MB; ``Llama.save_state`` would also copy the whole logits buffer)
  and restored when that agent runs again, so alternating agents do not re-read their instructions;
- optional GGUF LoRA adapters per agent, switched at run time on the one base model in RAM.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from .errors import InvalidInput, ModelCorrupt, ModelNotFound

Messages = list[dict[str, str]]
_SENTINEL = "\u2063EDGEMEM_PREFIX_END\u2063"


@dataclass(frozen=True)
class Completion:
    """One model call: the text and what it cost."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int  # prompt tokens whose KV state was reused, not recomputed
    prefill_s: float
    decode_s: float
    total_s: float


class Engine(Protocol):
    """What the agents need from a model. ``LlamaEngine`` is the real one; tests use a scripted fake."""

    n_ctx: int
    model_id: str

    def complete(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        prefix_key: str | None = None,
        adapter: str | None = None,
        on_text: Callable[[str], None] | None = None,
        threads: int | None = None,
        grammar: str | None = None,
    ) -> Completion: ...

    def count_tokens(self, text: str) -> int: ...


_LOAD_LOCK = threading.Lock()


@contextlib.contextmanager
def extra_buffers_off() -> Iterator[None]:
    """While active, llama.cpp models load with their *extra buffer types* off.

    Why: those are CPU-specific weight layouts (runtime repacking, AMX tiles). With llama-cpp-python
    0.3.36 built natively on an AMX CPU (Intel Sapphire Rapids) the first decode segfaults; on Zen 5
    repacking made the Q4_K 1.5B slower (prefill 91 -> 150 tok/s without) and cost 600 MB. ``Llama``
    does not expose the switch, so llama.cpp's default model params are patched while it loads.
    ``EDGEMEM_LLAMA_EXTRA_BUFFERS=1`` leaves them on."""
    import llama_cpp.llama_cpp as capi

    if os.environ.get("EDGEMEM_LLAMA_EXTRA_BUFFERS") == "1":
        yield
        return
    original = capi.llama_model_default_params

    def params() -> Any:
        p = original()
        p.use_extra_bufts = False
        return p

    with _LOAD_LOCK:
        capi.llama_model_default_params = params
        try:
            yield
        finally:
            capi.llama_model_default_params = original


def load_llama(model_path: str | Path, **kwargs: Any) -> Any:
    """``llama_cpp.Llama(model_path, **kwargs)`` with extra buffer types off (see :func:`extra_buffers_off`)."""
    import llama_cpp

    with extra_buffers_off():
        return llama_cpp.Llama(model_path=str(model_path), **kwargs)


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


@dataclass
class _Snapshot:
    tokens: list[int]
    state: Any  # ctypes uint8 array
    size: int


class LlamaEngine:
    """llama.cpp on CPU. Thread-safe: calls are serialised by a lock (one model, one context)."""

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int = 4096,
        threads: int | None = None,
        threads_batch: int | None = None,
        seed: int = 0,
        adapters: dict[str, str | Path] | None = None,
        constrained: bool = True,
        lazy_grammar: bool = True,
        gpu_layers: int = 0,
        verbose: bool = False,
    ) -> None:
        # OpenMP worker threads spin while idle by default; on a laptop that steals the core the other
        # process needs. Must be set before llama.cpp starts its thread pool.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        try:
            import llama_cpp
        except ImportError as e:  # pragma: no cover - a base dependency
            raise ModelNotFound("llama-cpp-python is not installed. Fix: pip install llama-cpp-python") from e
        self._llama_cpp = llama_cpp
        path = Path(model_path)
        if not path.exists():
            raise ModelNotFound(f"Model file {path} does not exist.")
        self.threads = threads or default_threads()
        self.threads_batch = threads_batch or self.threads
        self.model_path = path
        self.model_id = path.name
        self.constrained = constrained
        self.lazy_grammar = lazy_grammar
        try:
            self.llama = load_llama(
                path,
                n_ctx=n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads_batch,
                n_batch=512,
                seed=seed,
                n_gpu_layers=gpu_layers,
                verbose=verbose,
            )
        except ValueError as e:
            raise ModelCorrupt(
                f"llama.cpp cannot load {path}: {e}. Fix: check the file (re-download or re-export)."
            ) from e
        self.n_ctx = self.llama.n_ctx()
        self._formatter = self._make_formatter()
        self._lock = threading.RLock()
        self._snapshots: dict[tuple[str, str | None], _Snapshot] = {}
        self._grammars: dict[str, Any] = {}
        self._adapters: dict[str, Any] = {}
        self._active_adapter: str | None = None
        self._candidates: Any = None  # llama_token_data[n_vocab], allocated on first use
        for name, adapter_path in (adapters or {}).items():
            self.load_adapter(name, adapter_path)

    # -- prompt rendering --------------------------------------------------------------------------

    def _make_formatter(self) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelCorrupt(
                f"{self.model_path} has no chat template (is it a base model, not an instruct model?). "
                "Fix: use an instruct/chat GGUF."
            )
        model = self.llama._model
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        return Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos) if eos != -1 else "",
            bos_token=model.token_get_text(bos) if bos != -1 else "",
            stop_token_ids=[eos],
        )

    def render(self, messages: Messages) -> tuple[str, bool]:
        """The prompt text the chat template makes of ``messages``, and whether it holds BOS already."""
        result = self._formatter(messages=messages)
        return result.prompt, bool(result.added_special)

    def tokenize_messages(self, messages: Messages) -> list[int]:
        text, has_bos = self.render(messages)
        return self.llama.tokenize(text.encode("utf-8"), add_bos=not has_bos, special=True)

    def count_tokens(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def _prefix_tokens(self, messages: Messages, tokens: list[int]) -> int:
        """How many leading tokens of ``tokens`` come from the fixed part (all but the last message)."""
        probe = [*messages[:-1], {**messages[-1], "content": _SENTINEL}]
        text, has_bos = self.render(probe)
        head = text.split(_SENTINEL, 1)[0]
        ids = self.llama.tokenize(head.encode("utf-8"), add_bos=not has_bos, special=True)
        n = 0
        for a, b in zip(ids, tokens, strict=False):
            if a != b:
                break
            n += 1
        # The last token of the head may merge with what follows; keep a safe margin.
        return max(0, n - 1)

    # -- LoRA adapters -----------------------------------------------------------------------------

    def load_adapter(self, name: str, path: str | Path) -> None:
        p = Path(path)
        if not p.exists():
            raise ModelNotFound(f"LoRA adapter {p} (for {name}) does not exist.")
        lcpp = self._llama_cpp
        handle = lcpp.llama_adapter_lora_init(self.llama._model.model, str(p).encode("utf-8"))
        if not handle:
            raise ModelCorrupt(
                f"llama.cpp cannot load LoRA adapter {p} on {self.model_path.name}. "
                "Fix: export the adapter against this base model (python -m export --lora-only)."
            )
        self._adapters[name] = handle

    def _use_adapter(self, name: str | None) -> None:
        if name == self._active_adapter:
            return
        if name is not None and name not in self._adapters:
            name = None  # an agent without its own adapter runs on the plain base model
            if self._active_adapter is None:
                return
        lcpp = self._llama_cpp
        ctx = self.llama._ctx.ctx
        if name is None:
            lcpp.llama_set_adapters_lora(ctx, None, 0, None)
        else:
            arr = (lcpp.llama_adapter_lora_p_ctypes * 1)(self._adapters[name])
            scales = (ctypes.c_float * 1)(1.0)
            lcpp.llama_set_adapters_lora(ctx, arr, 1, scales)
        self._active_adapter = name
        self.llama.reset()  # the KV cache was computed with other weights

    # -- prefix cache ------------------------------------------------------------------------------

    def _common(self, tokens: list[int]) -> int:
        n = 0
        for a, b in zip(self.llama.input_ids[: self.llama.n_tokens], tokens, strict=False):
            if a != b:
                break
            n += 1
        return n

    def _prepare_prefix(self, key: tuple[str, str | None], tokens: list[int], n_prefix: int) -> int:
        """Make the KV cache hold tokens[:n_prefix], from a snapshot when possible. Returns tokens reused."""
        lcpp, llama = self._llama_cpp, self.llama
        have = self._common(tokens)
        if have >= n_prefix:
            return have
        snap = self._snapshots.get(key)
        if snap is not None and len(snap.tokens) <= len(tokens) and tokens[: len(snap.tokens)] == snap.tokens:
            if lcpp.llama_state_seq_set_data(llama._ctx.ctx, snap.state, snap.size, 0):
                n = len(snap.tokens)
                llama.input_ids[:n] = snap.tokens
                llama.n_tokens = n
                llama._requires_eval = True
                return n
            llama.reset()
        # No usable snapshot: read the fixed part once, then keep its state.
        llama.n_tokens = have
        llama.eval(tokens[have:n_prefix])
        size = lcpp.llama_state_seq_get_size(llama._ctx.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = lcpp.llama_state_seq_get_data(llama._ctx.ctx, buf, size, 0)
        if written:
            self._snapshots[key] = _Snapshot(list(tokens[:n_prefix]), buf, written)
        return have

    # -- generation --------------------------------------------------------------------------------

    def _grammar(self, schema: dict[str, Any] | None, gbnf: str | None) -> Any:
        """The llama.cpp grammar of a GBNF text or, when none is given, of a JSON schema (None: neither)."""
        if gbnf is None and schema is None:
            return None
        key = gbnf if gbnf is not None else json.dumps(schema)
        if key not in self._grammars:
            from llama_cpp import LlamaGrammar

            if len(self._grammars) > 256:
                self._grammars.clear()
            if gbnf is not None:
                self._grammars[key] = LlamaGrammar.from_string(gbnf, verbose=False)
            else:
                self._grammars[key] = LlamaGrammar.from_json_schema(key, verbose=False)
        return self._grammars[key]

    def complete(
        self,
        messages: Messages,
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int = 256,
        temperature: float = 0.0,
        prefix_key: str | None = None,
        adapter: str | None = None,
        on_text: Callable[[str], None] | None = None,
        threads: int | None = None,
        grammar: str | None = None,
    ) -> Completion:
        """Run the chat ``messages`` and return the reply (JSON matching ``schema``, or text matching the
        GBNF ``grammar``, when constrained). ``on_text`` receives the reply piece by piece as it is
        generated (greedy decoding). ``threads``: this call's llama.cpp threads (prompt and generation),
        instead of the engine's."""
        with self._lock, self._threads(threads):
            return self._complete(messages, schema, max_tokens, temperature, prefix_key, adapter, on_text, grammar)

    @contextlib.contextmanager
    def _threads(self, threads: int | None) -> Iterator[None]:
        """Run on ``threads`` llama.cpp threads for the duration, then back to the engine's own."""
        if threads is None or threads == self.threads:
            yield
            return
        ctx = self.llama._ctx.ctx
        self._llama_cpp.llama_set_n_threads(ctx, threads, threads)
        try:
            yield
        finally:
            self._llama_cpp.llama_set_n_threads(ctx, self.threads, self.threads_batch)

    def _complete(
        self,
        messages: Messages,
        schema: dict[str, Any] | None,
        max_tokens: int,
        temperature: float,
        prefix_key: str | None,
        adapter: str | None,
        on_text: Callable[[str], None] | None,
        gbnf: str | None = None,
    ) -> Completion:
        """The call itself, under the lock ``complete`` holds."""
        lcpp = self._llama_cpp
        t0 = time.perf_counter()
        self._use_adapter(adapter)
        tokens = self.tokenize_messages(messages)
        if len(tokens) + max_tokens > self.n_ctx:
            raise InvalidInput(
                f"The prompt is {len(tokens)} tokens and the reply may take {max_tokens}, more than the "
                f"context of {self.n_ctx}. Fix: shorten the input or raise n_ctx."
            )
        reused = self._common(tokens)
        if prefix_key is not None:
            n_prefix = self._prefix_tokens(messages, tokens)
            if n_prefix > 0:
                reused = max(reused, self._prepare_prefix((prefix_key, self._active_adapter), tokens, n_prefix))
        ctx = self.llama._ctx.ctx
        lcpp.llama_perf_context_reset(ctx)
        grammar = self._grammar(schema, gbnf) if self.constrained else None
        if temperature == 0 and self.lazy_grammar:
            text, n_prompt, n_out, prefill_s, decode_s = self._greedy(tokens, grammar, max_tokens, on_text)
        else:
            out = self.llama.create_completion(
                prompt=tokens,
                max_tokens=max_tokens,
                temperature=temperature,
                top_k=1 if temperature == 0 else 40,
                repeat_penalty=1.0,
                grammar=grammar,
            )
            assert isinstance(out, dict)  # not streaming
            text, n_prompt, n_out = (
                out["choices"][0]["text"],
                out["usage"]["prompt_tokens"],
                out["usage"]["completion_tokens"],
            )
            perf = lcpp.llama_perf_context(ctx)
            prefill_s, decode_s = perf.t_p_eval_ms / 1000.0, perf.t_eval_ms / 1000.0
        total = time.perf_counter() - t0
        return Completion(
            text=text,
            prompt_tokens=n_prompt,
            completion_tokens=n_out,
            cached_tokens=reused,
            prefill_s=prefill_s,
            decode_s=decode_s,
            total_s=total,
        )

    def _greedy(
        self, tokens: list[int], grammar: Any, max_tokens: int, on_text: Callable[[str], None] | None = None
    ) -> tuple[str, int, int, float, float]:
        """Greedy decoding that checks the grammar lazily.

        llama-cpp-python applies a grammar to every candidate of the vocabulary at every step (151k
        tokens for Qwen: about 20 ms a token here). Greedy decoding only needs to know whether the
        arg-max token is allowed; only when it is not do we filter the whole vocabulary. The result
        is the same token sequence, at the cost of one check per step.
        """
        lcpp, llama = self._llama_cpp, self.llama
        ctx, vocab, n_vocab = llama._ctx.ctx, llama._model.vocab, llama.n_vocab()
        n = min(self._common(tokens), len(tokens) - 1)  # at least one token to evaluate: fresh logits
        llama.n_tokens = n
        t0 = time.perf_counter()
        llama.eval(tokens[n:])
        t1 = time.perf_counter()
        sampler = None
        if grammar is not None:
            sampler = lcpp.llama_sampler_init_grammar(
                vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8")
            )
        one = (lcpp.llama_token_data * 1)()
        one_arr = lcpp.llama_token_data_array(one, 1, -1, False)
        out: list[int] = []
        sent = 0
        try:
            for _ in range(max_tokens):
                logits = np.ctypeslib.as_array(lcpp.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
                token = int(logits.argmax())
                if sampler is not None:
                    one[0].id, one[0].logit, one[0].p = token, float(logits[token]), 0.0
                    one_arr.size, one_arr.selected = 1, -1
                    lcpp.llama_sampler_apply(sampler, ctypes.byref(one_arr))
                    if not np.isfinite(one[0].logit):  # not allowed here: filter the whole vocabulary
                        token = self._allowed_argmax(sampler, logits)
                if lcpp.llama_vocab_is_eog(vocab, token):
                    break
                if sampler is not None:
                    lcpp.llama_sampler_accept(sampler, token)
                out.append(token)
                if on_text is not None:  # whole characters only: a token can end inside a UTF-8 sequence
                    text = llama.detokenize(out).decode("utf-8", errors="ignore")
                    if len(text) > sent:
                        on_text(text[sent:])
                        sent = len(text)
                llama.eval([token])
        finally:
            if sampler is not None:
                lcpp.llama_sampler_free(sampler)
        text = llama.detokenize(out).decode("utf-8", errors="replace")
        return text, len(tokens), len(out), t1 - t0, time.perf_counter() - t1

    def _allowed_argmax(self, sampler: Any, logits: np.ndarray) -> int:
        lcpp = self._llama_cpp
        n_vocab = logits.shape[0]
        if self._candidates is None:
            self._candidates = (lcpp.llama_token_data * n_vocab)()
        view = np.ctypeslib.as_array(self._candidates)
        view["id"] = np.arange(n_vocab, dtype=np.int32)
        view["logit"] = logits
        view["p"] = 0.0
        arr = lcpp.llama_token_data_array(self._candidates, n_vocab, -1, False)
        lcpp.llama_sampler_apply(sampler, ctypes.byref(arr))
        return int(view["id"][int(view["logit"][: arr.size].argmax())])

    def close(self) -> None:
        with self._lock:
            self._snapshots.clear()
            llama = getattr(self, "llama", None)
            if llama is not None:
                llama.close()
                self.llama = None
