"""What the GRPO and PPO scripts share: presets, base-model loading, datasets, the run log.

Heavy imports (torch, transformers, peft) happen inside the functions, so ``--help`` is instant and
the error for a missing extra is clear.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import re
import time
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput, MissingDependency

AGENTS = ("answer", "manager")


@dataclass
class RunArgs:
    """Settings of a GRPO or PPO run; each field is a --flag of the training scripts."""

    agent: str = "answer"  # answer | manager
    preset: str = "cpu-smoke"  # cpu-smoke | qwen2.5-3b
    data: Path = Path("runs/data")  # folder written by training.data
    output_dir: Path | None = None  # default runs/<method>-<agent>-<preset>
    base_model: str | None = None  # override the preset's base model
    max_steps: int | None = None  # override the preset's step count
    grad_accum: int | None = None  # override the preset (8 GPUs: 1 keeps 128 completions per step)
    learning_rate: float | None = None  # override the preset's learning rate
    beta: float | None = None  # override the preset's KL coefficient (0: no reference model)
    limit: int | None = None  # only the first N training examples
    # override the preset's completion budget (tokens): the manager writes one operation per fact
    # (up to 5, ~30 tokens each), far more than a short answer
    max_completion_length: int | None = None
    # Answer agent reward: "em" (exact match, Memory-R1) or "f1" (token-set F1: denser, for small models
    # whose exact-match rate is near zero, so most GRPO groups would carry no signal)
    # "f1-json": F1, and 0 for output the runtime's answer grammar could not have produced (not JSON of
    # the answer schema): the lenient parser would otherwise reward drift the grammar hides at run time
    # Manager: "em" or "f1" of its frozen answerer's answer; "f1-accepted": that F1 times the share of
    # the manager's operations the runtime's planner accepted (a rejected one lowers the reward);
    # "f1-budget": f1-accepted minus 0.1 x (memories ADDed / facts of the turn), a price on bank growth
    # "f1-strict": F1 minus 0.1 x (ADDs / facts) minus 0.5 x the share of operations the planner rejected
    # (subtracted, a rejected operation costs also when the answer is wrong)
    reward: str = "em"
    add_cost: float | None = None  # --reward f1-budget / f1-strict: its price per ADD instead of 0.1
    # GRPO: how a group's rewards become advantages (TRL's scale_rewards). "group" (TRL's default)
    # divides by the group's standard deviation, so any difference, however small, becomes a full-size
    # advantage: with a price per ADD, every group whose answers tied was pushed to NOOP at full strength
    # (session 12's collapse). "none" (Dr. GRPO) keeps the reward's scale: a small price stays small.
    scale_rewards: str = "group"
    max_minutes: float | None = None  # stop (and save the adapter) after this much training time
    # CPU runs whose memory grows step by step: at this resident size (GB) after a step, GRPO saves a
    # checkpoint and exits with code 75, so a shell loop continues with --resume in a fresh process (see
    # README); PPO, which cannot resume, saves its adapter and ends the run there
    max_rss_gb: float | None = None
    keep_checkpoints: int = 2  # the newest N checkpoints are kept; 0 keeps all (to pick one by val_reward)
    val_every: int = 0  # every N optimiser steps, greedy answers on the validation split (0: off)
    val_limit: int = 24  # ... on its first N examples (CPU: each costs a generation)
    # the manager's reward: a frozen answer agent (registry name, .gguf, or an exported answer agent's
    # manifest.json) answers the linked question over the edited bank, reading answerer_k memories per
    # speaker (Memory-R1: 30; the CPU runs answer with 5). --reward em or f1 scores its answer.
    answerer_model: str = "qwen2.5-coder-0.5b"
    answerer_k: int = 30
    answerer_threads: int = 1
    answerer_gpu_layers: int = 0  # offload the frozen answerer to a GPU (needs a CUDA build of llama-cpp-python)
    # answer agent: train only on questions whose prompt holds a word of the gold answer. The others
    # score 0 in every rollout, so their GRPO groups carry no gradient and only cost generation time.
    answerable_only: bool = False
    resume: bool = False  # continue from the last checkpoint in output_dir (GRPO)
    overwrite: bool = False  # replace an existing adapter
    # the preset's activation (gradient) checkpointing off: faster steps, several GB more memory
    no_gradient_checkpointing: bool = False
    # GRPO: start from this LoRA (e.g. training.sft's <out>/adapter) instead of a fresh one; with a KL
    # term the reference is a frozen copy of it (TRL), so RL stays near the warm-started agent
    init_adapter: Path | None = None
    # PPO: sequences per forward/backward pass (the step's rollouts are split over passes; same step size).
    # TRL takes logits at every prompt+response position: at 0.5B, 8 x ~900 tokens x 152k vocab is 2.2 GB
    micro_batch: int | None = None
    threads: int | None = None  # torch CPU threads (override the preset; 1 when another job shares the cores)
    seed: int = 0


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
        # 20 GB for this 0.5B model: see the run logs' peak_rss_mb and the README
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


def cpu_has_fast_bf16() -> bool:
    """True on CPUs with bf16 matrix instructions (Intel AMX, AVX512-BF16 on Zen 4/5 and Cooper Lake+).
    An ad-hoc check on a Sapphire Rapids core (not a committed benchmark): a 2048x896x4864 matmul
    took 193 ms in fp32 and 28 ms in bf16.
    Without them bf16 is emulated and slower than fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: keep fp32
        return False
    return "amx_bf16" in flags or "avx512_bf16" in flags


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


def check_reward(reward: str, agent: str = "answer", add_cost: float | None = None) -> str:
    from training.rewards import ANSWER_REWARDS, MANAGER_REWARDS  # the --reward names each agent takes

    names = list(ANSWER_REWARDS if agent == "answer" else MANAGER_REWARDS)
    if reward not in names:
        raise InvalidInput(f"Unknown reward {reward!r} for the {agent} agent. Expected one of: {', '.join(names)}.")
    priced = [name for name, spec in MANAGER_REWARDS.items() if spec.add_cost]
    if add_cost is not None and (agent != "manager" or reward not in priced):
        raise InvalidInput(
            f"--add-cost {add_cost} prices the manager's ADDs under --reward {', '.join(priced)} only, "
            f"not the {agent} agent's {reward!r}. Fix: --agent manager --reward f1-strict, or drop --add-cost."
        )
    if add_cost is not None and add_cost < 0:
        raise InvalidInput(f"--add-cost {add_cost}: a price cannot be negative. Fix: e.g. --add-cost 0.02.")
    return reward


def check_agent(agent: str) -> str:
    if agent not in AGENTS:
        raise InvalidInput(f"Unknown agent {agent!r}. Expected one of: {', '.join(AGENTS)}.")
    return agent


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
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return str(out)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InvalidInput(
            f"{path} does not exist. Fix: build the data first: python -m training.data --out {path.parent}"
        )
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InvalidInput(
                    f"{path}:{n} is not JSON ({e.msg}). Fix: rebuild it with python -m training.data"
                ) from e
            if not isinstance(row, dict) or "messages" not in row or "answer" not in row:
                raise InvalidInput(f"{path}:{n} is not a training example (needs 'messages' and 'answer').")
            rows.append(row)
    if not rows:
        raise InvalidInput(f"{path} holds no examples.")
    return rows


def check_output_dir(out: Path, resume: bool, overwrite: bool) -> None:
    adapter = out / "adapter"
    if adapter.exists() and not (resume or overwrite):
        raise InvalidInput(
            f"{adapter} already exists. Fix: pass --resume to continue, --overwrite to replace it, or another --output-dir."
        )


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for p in ("edgemem", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "llama-cpp-python"):
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = None
    return out


def last_checkpoint(out: Path) -> int | None:
    """The step of the newest ``checkpoint-N`` folder in ``out`` (None: no checkpoint)."""
    steps = [int(p.name.split("-")[1]) for p in out.glob("checkpoint-*") if p.name.split("-")[1].isdigit()]
    return max(steps, default=None)


class RunLog:
    """The JSON run log: config, versions and every logged step (reward, KL, loss, ...)."""

    def __init__(self, path: Path, config: dict[str, Any], resume: bool = False) -> None:
        self.path = path
        self.data: dict[str, Any] = {"config": config, "versions": versions(), "started": time.time(), "steps": []}
        if resume and path.exists():  # a resumed run keeps its history up to the checkpoint it resumes from
            old = json.loads(path.read_text())
            at = last_checkpoint(path.parent) or 0  # the steps after it are run (and logged) again
            self.data["steps"] = [s for s in old.get("steps", []) if s.get("step", 0) <= at]
            self.data["resumed_from"] = old.get("started")
            self.data["resumed_at_step"] = at
        self.write()

    def log(self, step: int, values: dict[str, Any]) -> None:
        self.data["steps"].append(
            {"step": step, **{k: v for k, v in values.items() if isinstance(v, (int, float, str))}}
        )
        self.write()

    def write(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, default=str))
        tmp.replace(self.path)


def _number(v: Any) -> Any:
    """transformers 5 logs some values as strings: keep numbers as numbers in the log."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


EXIT_RESUME = 75  # EX_TEMPFAIL: stopped at the memory budget, a checkpoint saved; run again with --resume


class BudgetReached(Exception):
    """Raised at the time or memory budget to leave a training loop that ignores
    ``should_training_stop`` (TRL's PPO); the script then saves the adapter as after a last step."""


_FILLER = frozenset(
    "a an the and or of in on at to for with by from about is was be it he she they her his their".split()
)


def answerable(example: dict[str, Any]) -> bool:
    """Whether an answer example's prompt contains at least one content word of its gold answer.

    >>> ex = {"answer": "The Berlin marathon", "messages": [{"role": "user", "content": "[1] Leo: Berlin, in May"}]}
    >>> answerable(ex), answerable({**ex, "answer": "the Rome one"})
    (True, False)
    """
    gold = content_words(example["answer"])
    return bool(gold & words(" ".join(m["content"] for m in example["messages"] if m["role"] != "system")))


def words(text: Any) -> set[str]:
    return set(re.findall(r"\w+", str(text).lower()))


def content_words(text: Any) -> set[str]:
    """The lowercased words of ``text`` without filler words (a, the, of, ...)."""
    return words(text) - _FILLER


def check_init_adapter(adapter: Path, agent: str, base: str) -> None:
    """A warm-start adapter must exist, be for this agent and sit on this base model."""
    meta_path = adapter.parent / "edgemem_adapter.json"
    if not (adapter / "adapter_config.json").exists() or not meta_path.exists():
        raise InvalidInput(
            f"--init-adapter {adapter} is not a trained adapter (no adapter_config.json, or no "
            f"{meta_path.name} next to it). Fix: pass the <out>/adapter folder of a training.sft or training.grpo run."
        )
    meta = json.loads(meta_path.read_text())
    if meta.get("agent") != agent or meta.get("base_model") != base:
        raise InvalidInput(
            f"--init-adapter {adapter} is a {meta.get('agent')} agent on {meta.get('base_model')}, this run trains the "
            f"{agent} agent on {base}. Fix: pass an adapter of the same agent and base model (or --base-model)."
        )


def select_examples(args: RunArgs, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The training examples a run uses: ``--answerable-only`` filter, then the first ``--limit``; checked
    for the columns the manager's reward reads."""
    if args.answerable_only:
        if args.agent != "answer":
            raise InvalidInput("--answerable-only applies to the answer agent. Fix: drop it or use --agent answer.")
        rows = [r for r in rows if answerable(r)]
    rows = rows[: args.limit]
    if args.agent == "manager":
        from training.rewards import MANAGER_REWARDS

        lacking = [r.get("id", "?") for r in rows if "probes" not in r]
        if args.reward in MANAGER_REWARDS and MANAGER_REWARDS[args.reward].probe_gain and lacking:
            # here, before the model loads, not at the first reward call minutes later
            raise InvalidInput(
                f"--reward {args.reward} reads each example's 'probes' column, which {len(lacking)} examples "
                f"lack (first: {lacking[0]}). Fix: python -m training.data --probes-only --out {args.data}"
            )
    return rows


def _proc_status_mb(field: str) -> float | None:
    """A memory field of /proc/self/status (e.g. VmRSS, VmHWM) in MB; None where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def rss_mb() -> float:
    """This process's resident set size in MB (peak RSS where /proc is missing)."""
    rss = _proc_status_mb("VmRSS")
    if rss is not None:
        return rss
    import resource
    import sys

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def peak_rss_mb() -> float | None:
    """The process's peak resident size (VmHWM) in MB since the last :func:`reset_peak_rss`; None off Linux."""
    return _proc_status_mb("VmHWM")


def reset_peak_rss() -> None:
    """Start a new peak (Linux: writing 5 to clear_refs resets VmHWM), so each step's own peak is logged."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def release_memory() -> None:
    """Give freed heap memory back to the operating system (glibc ``malloc_trim``; elsewhere a no-op).

    Why: on CPU, torch's freed tensors go back to glibc malloc, which keeps the pages mapped; with
    allocations of changing sizes every step (prompts and completions of different lengths) the
    training process's RSS grew to 12-18 GB for a 0.5B LoRA run and got OOM-killed next to other jobs."""
    import ctypes
    import ctypes.util
    import gc

    gc.collect()
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
        if libc is not None and hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)
    except OSError:
        pass


def trainer_callback(
    run_log: RunLog, max_minutes: float | None = None, raise_on_stop: bool = False, max_rss_gb: float | None = None
) -> Any:
    """Logs every step into the run log; with ``max_minutes``, ends training after that much wall
    time (the script then saves the adapter as after a normal last step): "as many steps as fit".
    With ``max_rss_gb``, ends it (a checkpoint saved) once the process is that large, and sets
    ``memory_stop``: the script then exits with :data:`EXIT_RESUME`.
    ``raise_on_stop``: raise :class:`BudgetReached` at either budget, for loops that ignore the stop
    flag and cannot resume (TRL's PPO): the script saves the adapter and the run ends there."""
    from transformers import TrainerCallback

    class _Log(TrainerCallback):
        memory_stop = False

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            self.start = time.monotonic()
            reset_peak_rss()  # the first step's peak, not the model loading's

        step_memory: tuple[int, dict[str, Any]] = (-1, {})

        def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any) -> None:
            if logs:
                # the process's resident memory per step: a CPU run that grows is found before the OOM killer
                # rss_before_release_mb: before freed heap memory went back to the OS at the step's end;
                # peak_rss_mb: the step's own peak (what decides whether it fits next to other jobs).
                # TRL's PPO logs a step before its on_step_end: then both are measured here.
                step, memory = self.step_memory
                if step != state.global_step:
                    memory = {"rss_before_release_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}
                # elapsed_s: wall time since this process began training (step times without the progress bar)
                elapsed = round(time.monotonic() - self.start, 1)
                run_log.log(state.global_step, {**logs, "rss_mb": rss_mb(), **memory, "elapsed_s": elapsed})

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            memory = {"rss_before_release_mb": rss_mb(), "peak_rss_mb": peak_rss_mb()}
            self.step_memory = (state.global_step, memory)
            release_memory()
            reset_peak_rss()  # the next step's peak starts here (TRL's PPO has no on_step_begin)
            if max_minutes is not None and time.monotonic() - self.start > 60 * max_minutes:
                run_log.data["stopped"] = f"time budget of {max_minutes} min reached at step {state.global_step}"
                run_log.write()
                control.should_training_stop = True
                if raise_on_stop:
                    raise BudgetReached(run_log.data["stopped"])
            if max_rss_gb is not None and rss_mb() > 1024 * max_rss_gb and state.global_step < state.max_steps:
                # a loop that cannot resume stops for good with its adapter, before the OOM killer
                # would end it with nothing saved (session 17's PPO run: 9 steps lost)
                then = "adapter saved (no resume)" if raise_on_stop else "checkpoint saved, continue with --resume"
                run_log.data["stopped"] = (
                    f"memory budget of {max_rss_gb} GB reached at step {state.global_step} "
                    f"({rss_mb() / 1024:.1f} GB resident); {then}"
                )
                run_log.write()
                if raise_on_stop:
                    raise BudgetReached(run_log.data["stopped"])
                self.memory_stop = control.should_save = control.should_training_stop = True

    return _Log()


def render_prompt(tokenizer: Any, messages: str | list[dict[str, str]]) -> str:
    """The prompt text a chat model continues: a final assistant message (a forced start of the
    reply) is continued, otherwise a new assistant turn is opened. Text is already rendered."""
    if isinstance(messages, str):
        return messages
    if messages and messages[-1]["role"] == "assistant":
        return str(tokenizer.apply_chat_template(messages, tokenize=False, continue_final_message=True))
    return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))


def validation_callback(
    run_log: RunLog, rows: list[dict[str, Any]], score: Any, every: int, max_new_tokens: int
) -> Any:
    """Every ``every`` optimiser steps, at the start and at the stop, answer ``rows`` (chat ``prompt``
    plus reward columns) greedily with the model being trained and log the mean reward as
    ``val_reward``: the validation curve of the run.

    ``score(texts, rows) -> list[float]`` is the run's own reward function. Greedy, as evaluation
    decodes; not grammar-constrained, so a format the runtime would repair still counts as 0 here."""
    from transformers import TrainerCallback

    def evaluate(model: Any, tokenizer: Any, step: int) -> None:
        import torch

        was_training = model.training
        model.eval()
        side, tokenizer.padding_side = tokenizer.padding_side, "left"
        texts: list[str] = []
        try:
            with torch.no_grad():
                for i in range(0, len(rows), 4):
                    batch = rows[i : i + 4]
                    prompts = [render_prompt(tokenizer, r["prompt"]) for r in batch]
                    enc = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
                    out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
                    texts += tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        finally:
            tokenizer.padding_side = side
            if was_training:
                model.train()
        values = score(texts, rows)
        run_log.log(step, {"val_reward": sum(values) / len(values), "val_n": len(values)})
        run_log.data.setdefault("val_samples", {})[str(step)] = texts[:4]
        run_log.write()

    class _Validate(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == 0 or not any("val_reward" in s for s in run_log.data["steps"]):
                evaluate(kw["model"], kw["processing_class"], state.global_step)

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            last = state.global_step == state.max_steps or control.should_training_stop
            if state.global_step % every == 0 or last:
                evaluate(kw["model"], kw["processing_class"], state.global_step)

    return _Validate()


def write_run_card(out: Path, title: str, config: dict[str, Any], run_log: RunLog, extra: str = "") -> Path:
    steps = run_log.data["steps"]
    reward_keys = sorted({k for s in steps for k in s if "reward" in k and not k.endswith("_std")})
    lines = [f"# {title}", "", f"Output: `{out}`", "", "## Settings", ""]
    lines += [f"- {k}: `{v}`" for k, v in config.items()]
    lines += ["", "## Versions", ""] + [f"- {k}: {v}" for k, v in run_log.data["versions"].items()]
    lines += ["", "## Steps", "", "| step | " + " | ".join(reward_keys + ["loss", "kl"]) + " |"]
    lines += ["|" + "---|" * (len(reward_keys) + 3)]
    for s in steps:
        cells = [str(s.get("step"))] + [
            f"{s[k]:.4g}" if isinstance(s.get(k), float) else str(s.get(k, "")) for k in [*reward_keys, "loss", "kl"]
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if extra:
        lines += ["", extra]
    path = out / "RUN_CARD.md"
    path.write_text("\n".join(lines) + "\n")
    return path


_TYPES: dict[str, Any] = {
    **{t: str for t in ("str", "str | None")},
    **{t: int for t in ("int", "int | None")},
    **{t: float for t in ("float", "float | None")},
    **{t: Path for t in ("Path", "Path | None")},
}


def settings_parser(cls: Any, doc: str | None, prog: str | None = None) -> argparse.ArgumentParser:
    """One --flag per field of a settings dataclass (bools become switches; fields without a
    default are required). The module docstring, with its run commands, is the --help text."""
    p = argparse.ArgumentParser(
        prog=prog,
        description=(doc or "").split("\n\n")[0],
        epilog=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for f in dataclasses.fields(cls):
        flag = f"--{f.name.replace('_', '-')}"
        if f.type == "bool":
            p.add_argument(flag, action="store_true")
            continue
        if str(f.type) not in _TYPES:  # a new field type must be taught here, not parsed as a string
            raise TypeError(f"settings_parser: no converter for {cls.__name__}.{f.name}: {f.type}")
        required = f.default is dataclasses.MISSING
        p.add_argument(flag, type=_TYPES[str(f.type)], required=required, default=None if required else f.default)
    return p


def run_cli(cls: Any, fn: Any, doc: str | None, argv: list[str] | None = None, prog: str | None = None) -> Any:
    """Parse flags into ``cls`` and call ``fn``; an EdgememError becomes one line and exit 1."""
    from edgemem.errors import EdgememError

    try:
        return fn(cls(**vars(settings_parser(cls, doc, prog).parse_args(argv))))
    except EdgememError as e:
        raise SystemExit(f"Error: {e}") from None


def asdict_str(obj: Any) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(obj).items()}


def run_settings(args: Any, out: Path, base: str, model_dir: str, preset: Any, **extra: Any) -> dict[str, Any]:
    """What a run records in its run log and card: every flag, the resolved output folder and base
    model, anything the method adds (``extra``) and the preset's values, so a card says all it ran with."""
    return {
        **asdict_str(args),
        "output_dir": str(out),
        "base_model": base,
        "model_dir": model_dir,
        **extra,
        "preset_values": asdict(preset),
    }


def write_adapter_meta(out: Path, agent: str, base: str, model_dir: str, method: str, preset: str) -> Path:
    """``<out>/edgemem_adapter.json``, next to ``<out>/adapter``: which agent and base model the LoRA
    belongs to. The export stage and ``--init-adapter`` read it; a resumed run checks its base model."""
    path = out / "edgemem_adapter.json"
    meta = {"agent": agent, "base_model": base, "model_dir": model_dir, "method": method, "preset": preset}
    path.write_text(json.dumps(meta, indent=2))
    return path
