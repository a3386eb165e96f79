"""The base model a run trains: the [train] extra's check and a packaged GGUF dequantised for training."""

from __future__ import annotations

import os
import shutil
from typing import Any

from edgemem.errors import MissingDependency


def require_train_extra() -> None:
    try:
        import peft  # noqa: F401
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as e:
        raise MissingDependency(
            f"Training needs the [train] extra ({e.name} is missing). Fix: pip install torch==2.13.0 "
            "(CPU; or your CUDA build) and then pip install 'edgemem[train]'"
        ) from e


def hf_model_dir(base_model: str) -> str:
    """An HF model id or folder for ``base_model``. A packaged GGUF is dequantised once by
    transformers and saved as safetensors (a GGUF-loaded model is flagged quantized and trainers
    refuse it, hence the save)."""
    from edgemem.models import REGISTRY, edgemem_home, resolve_model

    if base_model not in REGISTRY:
        return base_model
    out = edgemem_home() / "hf" / base_model
    if (out / "config.json").exists():
        return str(out)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = resolve_model(base_model)
    print(f"dequantising {gguf.name} for training -> {out}", flush=True)
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    quantizer: Any = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)
    # a folder per process: two processes (test workers, two runs) may dequantise the same model at once
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    try:
        tmp.rename(out)
    except OSError:  # another process finished first: its copy is the same model
        if not (out / "config.json").exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return str(out)
