"""What a run leaves behind: the JSON run log, the run card, the adapter's metadata."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path
from typing import Any

from edgemem.machine import versions as package_versions

TRAINING_PACKAGES = ("edgemem", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "llama-cpp-python")


def versions() -> dict[str, str | None]:
    return {"python": platform.python_version(), **package_versions(*TRAINING_PACKAGES)}


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


def write_adapter_meta(out: Path, agent: str, base: str, model_dir: str, method: str, preset: str) -> Path:
    """``<out>/edgemem_adapter.json``, next to ``<out>/adapter``: which agent and base model the LoRA
    belongs to. The export stage and ``--init-adapter`` read it; a resumed run checks its base model."""
    path = out / "edgemem_adapter.json"
    meta = {"agent": agent, "base_model": base, "model_dir": model_dir, "method": method, "preset": preset}
    path.write_text(json.dumps(meta, indent=2))
    return path
