"""Trainer callbacks: the run log per step, the time and memory budgets, the validation curve."""

from __future__ import annotations

import time
from typing import Any

from edgemem.machine import peak_rss_mb, release_memory, reset_peak_rss, rss_mb
from training.examples import render_prompt
from training.runlog import RunLog

EXIT_RESUME = 75  # EX_TEMPFAIL: stopped at the memory budget, a checkpoint saved; run again with --resume


class BudgetReached(Exception):
    """Raised at the time or memory budget to leave a training loop that ignores
    ``should_training_stop`` (TRL's PPO); the script then saves the adapter as after a last step."""


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
                # would end it with nothing saved (a PPO manager run lost 9 steps so: experiments/manager-ppo-probes)
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
