"""GRPO fine-tuning of the Answer Agent or the Memory Manager (Memory-R1), TRL GRPOTrainer + LoRA.

    python -m training.data --model smollm2-135m --max-sessions 1 --out runs/data-smoke
    python -m training.grpo --agent answer --preset cpu-smoke --data runs/data-smoke
    python -m training.grpo --agent manager --preset cpu-smoke --data runs/data-smoke --answerer-model smollm2-135m

    # the paper's recipe, one GPU (docs/training.md: 8 GPUs with accelerate + DeepSpeed ZeRO-2)
    python -m training.grpo --agent answer --preset qwen2.5-3b --data runs/data

Design choices:
1. The prompts are the runtime's (built by ``training.data`` through ``edgemem``), given to TRL as chat
   messages so the training model's own chat template renders them, as llama.cpp does at run time.
2. Rewards are outcome-driven (``training.rewards``): exact match of the answer; for the manager, of a
   frozen answer agent (llama.cpp, a GGUF) answering over the bank its operations produced.
3. Rollouts are not grammar-constrained (HF generation has no JSON grammar), but an answer rollout
   starts from the tokens the runtime's grammar forces first (``ANSWER_PREFIX``), so the reward is
   spent on the answer, not on opening a JSON object. An output that does not parse scores 0.
4. Output: ``<out>/adapter`` (PEFT LoRA), ``<out>/run_log.json``, ``<out>/RUN_CARD.md``; checkpoints
   in ``<out>`` so ``--resume`` continues an interrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.prompts import ANSWER_PREFIX, MANAGER_PREFIX
from training.base_model import hf_model_dir, require_train_extra
from training.callbacks import EXIT_RESUME, trainer_callback, validation_callback
from training.examples import load_jsonl, render_prompt
from training.presets import get_preset, lora_config, use_bf16
from training.rewards import ManagerOutcomeReward
from training.runlog import RunLog, last_checkpoint, write_adapter_meta, write_run_card
from training.settings import (
    RunArgs,
    check_agent,
    check_init_adapter,
    check_output_dir,
    check_reward,
    run_cli,
    run_settings,
    select_examples,
)

GRPOArgs = RunArgs  # the settings of a training run (training.settings.RunArgs)
SCALE_REWARDS = ("group", "batch", "none")  # TRL's names (GRPOConfig.scale_rewards)


def dataset_rows(agent: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The columns TRL needs (``prompt``) plus what the reward functions read.

    Prompts end with the start of the assistant's reply, ``ANSWER_PREFIX`` or ``MANAGER_PREFIX``: TRL
    continues that message, as the runtime's grammar forces the same first tokens, so rollouts look like
    deployed outputs and the reward (which parses prefix + completion) is about their content."""
    keep: tuple[str, ...]
    if agent == "answer":
        prefix, keep = ANSWER_PREFIX, ("answer", "n_memories")
    else:
        # what ManagerOutcomeReward reads; "probes" only in data built since f1-probes
        prefix, keep = MANAGER_PREFIX, ManagerOutcomeReward.COLUMNS
    out = []
    for r in rows:
        start = "" if r.get("answer_format") == "plain" else prefix  # a plain answer has no forced start
        prompt = [*r["messages"], {"role": "assistant", "content": start}] if start else r["messages"]
        out.append({"prompt": prompt, "prefix": start, **{k: r[k] for k in keep if k in r}})
    return out


def reward_validation(
    run_log: RunLog, reward: Any, agent: str, data: Path, limit: int, every: int, max_new_tokens: int
) -> Any:
    """The validation callback of a run: greedy answers on the first ``limit`` validation prompts
    (with the same forced reply start as training), scored by ``reward`` (a training.rewards function)."""
    val = dataset_rows(agent, load_jsonl(data / f"{agent}_val.jsonl")[:limit])

    def val_score(texts: list[str], batch: list[dict[str, Any]]) -> list[float]:
        columns = {k: [r[k] for r in batch] for k in batch[0] if k != "prompt"}
        return [float(v) for v in reward(texts, **columns)]

    return validation_callback(run_log, val, val_score, every, max_new_tokens)


def reward_functions(args: GRPOArgs) -> list[Any]:
    from training import rewards

    if args.agent == "answer":
        return [rewards.ANSWER_REWARDS[args.reward]]
    return [rewards.run_manager_reward(args)]


def main(args: GRPOArgs) -> Path:
    check_agent(args.agent)
    check_reward(args.reward, args.agent, args.add_cost)
    preset = get_preset(args.preset)
    out = args.output_dir or Path("runs") / f"grpo-{args.agent}-{args.preset}"
    check_output_dir(out, args.resume, args.overwrite)
    base = args.base_model or preset.base_model
    meta_path = out / "edgemem_adapter.json"
    if args.resume and meta_path.exists() and json.loads(meta_path.read_text())["base_model"] != base:
        raise InvalidInput(
            f"{out} was trained from {json.loads(meta_path.read_text())['base_model']}, not {base}. Fix: pass the same --base-model or another --output-dir."
        )
    if args.micro_batch is not None:
        raise InvalidInput(
            "--micro-batch is a PPO setting. Fix: drop it (GRPO's batch is the preset's, or --grad-accum)."
        )
    if args.scale_rewards not in SCALE_REWARDS:
        raise InvalidInput(
            f"--scale-rewards {args.scale_rewards!r} is not a normalisation TRL knows. Fix: one of {', '.join(SCALE_REWARDS)}."
        )
    if args.init_adapter is not None:
        check_init_adapter(args.init_adapter, args.agent, base)
    rows = select_examples(args, load_jsonl(args.data / f"{args.agent}_train.jsonl"))
    require_train_extra()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    if preset.device == "cpu" and (args.threads or preset.threads):
        torch.set_num_threads(
            args.threads or preset.threads or 1
        )  # more threads than cores (or a busy core) slows torch 10-30x
    model_dir = hf_model_dir(base)
    completion_length = args.max_completion_length or preset.max_completion_length
    config = GRPOConfig(
        output_dir=str(out),
        learning_rate=args.learning_rate or preset.learning_rate,
        per_device_train_batch_size=preset.per_device_batch,
        gradient_accumulation_steps=args.grad_accum or preset.grad_accum,
        num_generations=preset.num_generations,
        max_completion_length=completion_length,
        temperature=preset.temperature,
        beta=preset.beta if args.beta is None else args.beta,
        scale_rewards=args.scale_rewards,
        max_steps=args.max_steps or preset.max_steps,
        num_train_epochs=preset.epochs,
        bf16=use_bf16(preset),  # TRL defaults to bf16=True and gradient checkpointing on: set both
        gradient_checkpointing=preset.gradient_checkpointing and not args.no_gradient_checkpointing,
        use_cpu=preset.device == "cpu",
        save_steps=preset.save_steps,
        save_total_limit=args.keep_checkpoints or None,
        logging_steps=1,
        report_to=[],
        seed=args.seed,
        # bf16 weights as loaded (not only autocast): generation, the slow part on a CPU, runs in bf16
        model_init_kwargs={"dtype": "bfloat16"} if use_bf16(preset) else None,
    )
    lora = lora_config(preset)
    settings = run_settings(args, out, base, model_dir, preset)
    run_log = RunLog(out / "run_log.json", settings, resume=args.resume)
    reward_funcs = reward_functions(args)
    log_callback = trainer_callback(run_log, args.max_minutes, max_rss_gb=args.max_rss_gb)
    callbacks = [log_callback]
    if args.val_every:
        callbacks.append(
            reward_validation(
                run_log, reward_funcs[0], args.agent, args.data, args.val_limit, args.val_every, completion_length
            )
        )
    train_rows = dataset_rows(args.agent, rows)
    # TRL's GRPO opens a new assistant turn after a chat prompt; to continue the forced start of the
    # reply, the prompts go in as text, rendered by the model's own chat template.
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for r in train_rows:
        r["prompt"] = render_prompt(tokenizer, r["prompt"])
    model: Any = model_dir
    if args.init_adapter is not None:  # warm start: keep training that LoRA (TRL copies it as the KL reference)
        from peft import PeftModel
        from transformers import AutoModelForCausalLM

        base_model = AutoModelForCausalLM.from_pretrained(model_dir, dtype="bfloat16" if use_bf16(preset) else None)
        model = PeftModel.from_pretrained(base_model, str(args.init_adapter), is_trainable=True)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=reward_funcs,
        args=config,
        train_dataset=Dataset.from_list(train_rows),
        peft_config=lora if args.init_adapter is None else None,
        callbacks=callbacks,
    )
    trainer.train(resume_from_checkpoint=True if (args.resume and last_checkpoint(out) is not None) else None)
    trainer.save_model(str(out / "adapter"))
    write_adapter_meta(out, args.agent, base, model_dir, "grpo", args.preset)
    card = write_run_card(out, f"GRPO {args.agent} agent ({args.preset})", settings, run_log)
    print(f"adapter: {out / 'adapter'}\nrun log: {run_log.path}\nrun card: {card}")
    if log_callback.memory_stop:  # a fresh process gives the memory back: the caller resumes
        print(run_log.data["stopped"])
        raise SystemExit(EXIT_RESUME)
    return out / "adapter"


def cli(argv: list[str] | None = None) -> None:
    run_cli(GRPOArgs, main, __doc__, argv)


if __name__ == "__main__":
    cli()
