"""The training recipes: base model, optimisation and LoRA settings of each preset."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.machine import cpu_has_fast_bf16


@dataclass(frozen=True)
class Preset:
    """Model and optimisation settings of one training recipe."""

    base_model: str  # an edgemem registry name (a packaged GGUF, dequantised for training) or an HF id / folder
    device: str
    bf16: bool  # on a CPU: only where it has bf16 matrix units (see use_bf16)
    learning_rate: float
    per_device_batch: int
    grad_accum: int
    num_generations: int  # GRPO group size (completions per prompt)
    max_completion_length: int
    temperature: float  # rollout temperature (Memory-R1: 1.0)
    beta: float  # KL coefficient
    lora_r: int
    lora_alpha: int
    max_steps: int  # -1: epochs decide
    epochs: float
    gradient_checkpointing: bool
    save_steps: int
    threads: int | None = None  # torch CPU threads
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


# Runs on a 2-core laptop CPU in minutes: proves the code path end to end, not a useful model.
_CPU_SMOKE = Preset(
    base_model="smollm2-135m",
    device="cpu",
    bf16=False,
    learning_rate=1e-5,
    per_device_batch=4,
    grad_accum=1,
    num_generations=4,
    max_completion_length=48,
    temperature=1.0,
    beta=0.0,
    lora_r=8,
    lora_alpha=16,
    max_steps=2,
    epochs=1,
    gradient_checkpointing=False,
    save_steps=1,
    threads=1,
    notes="SmolLM2-135M from the packaged GGUF; 2 steps.",
)

PRESETS: dict[str, Preset] = {
    "cpu-smoke": _CPU_SMOKE,
    # The packaged Qwen2.5-Coder-0.5B on a 2-core CPU for a few hours (issue: prove the chain on this
    # hardware); the smoke settings except these. LoRA r=16 and a lr far above the paper's 1e-6 because
    # only ~100 optimiser steps fit; 2 prompts x 4 completions per step; bf16 where the CPU has bf16
    # units (an ad-hoc check on an AMX core: a bf16 matmul ran 7x the fp32 one), else fp32; rollouts at
    # 0.7 because at 1.0 every group of the first two steps scored 0 (no signal).
    "cpu-0.5b": dataclasses.replace(
        _CPU_SMOKE,
        base_model="qwen2.5-coder-0.5b",
        bf16=True,
        learning_rate=3e-5,
        per_device_batch=8,
        temperature=0.7,
        lora_r=16,
        lora_alpha=32,
        max_steps=120,
        save_steps=10,
        threads=2,
        # without it a step's activations (8 sequences x ~900 tokens, no checkpointing) peaked near
        # 20 GB for this 0.5B model: see the run logs' peak_rss_mb and experiments/grpo-memory-gradient-checkpointing
        gradient_checkpointing=True,
        notes="Qwen2.5-Coder-0.5B-Instruct from the packaged GGUF, CPU, ~1-2 h.",
    ),
    # Memory-R1's recipe on one GPU (or 8 via accelerate). The paper fine-tunes all weights with verl;
    # we use LoRA r=64 on all projections. Batch 128 completions per optimiser step = 16 prompts x 8.
    "qwen2.5-3b": Preset(
        base_model="Qwen/Qwen2.5-3B-Instruct",
        device="cuda",
        bf16=True,
        learning_rate=1e-6,
        per_device_batch=16,
        grad_accum=8,
        num_generations=8,
        max_completion_length=2048,
        temperature=1.0,
        beta=0.04,
        lora_r=64,
        lora_alpha=128,
        max_steps=-1,
        epochs=3,
        gradient_checkpointing=True,
        save_steps=50,
        notes="Memory-R1 settings where stated: lr 1e-6 (actor), batch 128, temperature 1.0, response 2048.",
    ),
}


def use_bf16(preset: Preset) -> bool:
    """The preset's bf16 setting, honoured on a CPU only where bf16 is fast."""
    return preset.bf16 and (preset.device != "cpu" or cpu_has_fast_bf16())


# LoRA on all seven projections of a Qwen2 / Llama block (the paper fine-tunes all weights)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_config(preset: Preset, task_type: str = "CAUSAL_LM") -> Any:
    """The preset's LoRA (rank, alpha, targets) for a causal LM, or ``SEQ_CLS`` for PPO's value model."""
    from peft import LoraConfig

    return LoraConfig(r=preset.lora_r, lora_alpha=preset.lora_alpha, target_modules=LORA_TARGETS, task_type=task_type)


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise InvalidInput(f"Unknown preset {name!r}. Expected one of: {', '.join(PRESETS)}.")
    return PRESETS[name]
