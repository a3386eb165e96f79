"""The settings of a training run (each field a --flag) and their checks, before any model loads."""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from training.examples import answerable
from training.rewards import ANSWER_REWARDS, MANAGER_REWARDS

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
    # (experiments/manager-grpo-budget). "none" (Dr. GRPO) keeps the reward's scale: a small price stays small.
    scale_rewards: str = "group"
    max_minutes: float | None = None  # stop (and save the adapter) after this much training time
    # CPU runs whose memory grows step by step: at this resident size (GB) after a step, GRPO saves a
    # checkpoint and exits with code 75, so a shell loop continues with --resume in a fresh process (see
    # docs/training.md); PPO, which cannot resume, saves its adapter and ends the run there
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


def check_reward(reward: str, agent: str = "answer", add_cost: float | None = None) -> str:

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


def check_output_dir(out: Path, resume: bool, overwrite: bool) -> None:
    adapter = out / "adapter"
    if adapter.exists() and not (resume or overwrite):
        raise InvalidInput(
            f"{adapter} already exists. Fix: pass --resume to continue, --overwrite to replace it, or another --output-dir."
        )


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

        reward = MANAGER_REWARDS.get(args.reward)
        needs = {
            "probes": f"python -m training.data --probes-only --out {args.data}",
            "window": f"python -m training.data --agents manager --window 8 --out {args.data}",
        }
        for column, fix in needs.items():
            lacking = [r.get("id", "?") for r in rows if column not in r]
            wanted = reward is not None and bool(reward.probe_gain if column == "probes" else reward.window)
            if wanted and lacking:
                # here, before the model loads, not at the first reward call minutes later
                raise InvalidInput(
                    f"--reward {args.reward} reads each example's {column!r} column, which {len(lacking)} "
                    f"examples lack (first: {lacking[0]}). Fix: {fix}"
                )
    return rows


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
            if f.default is True:  # a setting on by default is turned off with --no-<flag>
                p.add_argument(flag, action=argparse.BooleanOptionalAction, default=True)
            else:
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
