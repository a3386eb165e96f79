"""Learning curves of training runs: reward (or SFT loss) per step, raw and smoothed, and the validation reward.

    python -m training.curves runs/grpo-answer-cpu-0.5b --out runs/grpo-answer-cpu-0.5b/curves.png
    python -m training.curves runs/grpo-answer runs/ppo-answer --out curves.png   # runs side by side

Reads each run's ``run_log.json`` (written by ``training.grpo`` / ``training.ppo``): the training reward
of every logged step (GRPO: ``reward``; PPO: ``objective/scores``) and, when the run validated as it
went (``--val-every``), ``val_reward`` on the validation split. SFT runs (``training.sft``) have no
training reward, so their left panel shows the training loss instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TRAIN_KEYS = ("reward", "objective/scores")


def curves(run_log: dict[str, Any]) -> dict[str, list[tuple[int, float]]]:
    """(step, value) series of one run log: ``train`` (reward), ``val`` and ``loss`` (any may be empty).

    >>> curves({"steps": [{"step": 0, "val_reward": 0.1}, {"step": 1, "reward": 0.5}, {"step": 1, "loss": 2}]})
    {'train': [(1, 0.5)], 'val': [(0, 0.1)], 'loss': [(1, 2.0)]}
    """
    train, val, loss = [], [], []
    for s in run_log.get("steps", []):
        if isinstance(s.get("loss"), (int, float)):
            loss.append((int(s["step"]), float(s["loss"])))
        for key in TRAIN_KEYS:
            if isinstance(s.get(key), (int, float)):
                train.append((int(s["step"]), float(s[key])))
                break
        if isinstance(s.get("val_reward"), (int, float)):
            val.append((int(s["step"]), float(s["val_reward"])))
    return {"train": train, "val": val, "loss": loss}


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average (the first points average what there is).

    >>> smooth([0.0, 1.0, 2.0, 3.0], 2)
    [0.0, 0.5, 1.5, 2.5]
    """
    out = []
    for i in range(len(values)):
        chunk = values[max(0, i - window + 1) : i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def plot(runs: list[Path], out: Path, window: int = 10) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_train, ax_val) = plt.subplots(1, 2, figsize=(11, 4))
    logs = [(run / "run_log.json" if run.is_dir() else run) for run in runs]
    series = [(path.parent.name, curves(json.loads(path.read_text()))) for path in logs]
    # SFT logs a loss and no reward: then the left panel shows the loss (lower is better)
    left = "train" if any(c["train"] for _, c in series) else "loss"
    for name, c in series:
        if c[left]:
            steps, values = zip(*c[left], strict=True)
            line = ax_train.plot(steps, values, alpha=0.25)[0]
            ax_train.plot(steps, smooth(list(values), window), color=line.get_color(), label=name)
        if c["val"]:
            steps, values = zip(*c["val"], strict=True)
            ax_val.plot(steps, values, marker="o", label=name)
    what = "reward" if left == "train" else "loss"
    ax_train.set_title(f"training {what} (faint: per step; line: mean of {window})")
    ax_train.set_ylabel(what)
    ax_val.set_title("validation reward (greedy, held-out conversation)")
    ax_val.set_ylabel("reward")
    for ax in (ax_train, ax_val):
        ax.set_xlabel("optimiser step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("runs", nargs="+", type=Path, help="run folders (or run_log.json files)")
    p.add_argument("--out", type=Path, required=True, help="PNG to write")
    p.add_argument("--window", type=int, default=10, help="steps in the moving average")
    args = p.parse_args(argv)
    missing = [r for r in args.runs if not (r / "run_log.json" if r.is_dir() else r).exists()]
    if missing:
        raise SystemExit(f"Error: no run_log.json in {', '.join(map(str, missing))}. Fix: pass a training run folder.")
    path = plot(args.runs, args.out, args.window)
    print(path)
    return path


if __name__ == "__main__":
    main()
