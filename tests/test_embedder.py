"""The ONNX MiniLM embedder (edgemem/embedder.py) on the real model. Run: .venv/bin/pytest tests/test_embedder.py"""

from __future__ import annotations

import numpy as np


def test_vectors_come_back_in_the_order_of_the_texts(embedder):
    """Texts are batched by length (fewer padded tokens); each vector still belongs to its own text and
    equals that text embedded alone, across more than one batch."""
    texts = [("word " * (n * 37 % 200)) + f"text {n}" for n in range(embedder.batch_size + 9)]
    together = embedder.embed(texts)
    assert together.shape == (len(texts), 384)
    for n in (0, 1, 5, len(texts) - 1):
        assert np.allclose(together[n], embedder.embed_one(texts[n]), atol=1e-5), n
    assert embedder.embed([]).shape == (0, 384)
