"""PPO fine-tuning of the Answer Agent or the Memory Manager (Memory-R1), with TRL's PPO trainer.

    python -m training.ppo --agent answer --preset cpu-smoke --data runs/data-smoke
    python -m training.ppo --agent manager --preset cpu-smoke --data runs/data-smoke --answerer-model smollm2-135m
    python -m training.ppo --agent answer --preset qwen2.5-3b --data runs/data

TRL removed its PPO trainer after 1.12.0; the [train] extra pins trl==1.12.0, whose
``trl.experimental.ppo`` has it (and GRPO). Design choices:
1. PPO wants a reward *model*. Our reward is a program (exact match of a parsed answer, or of a frozen
   answer agent over the edited bank), so :class:`ScorerRewardModel` wraps ``training.rewards`` in
   the interface TRL calls: it decodes each query+response, scores the response, and returns the
   score at every position (TRL reads the one at the end of the response).
2. The policy is LoRA (``peft_config``); the value model is a sequence-classification head on the
   same base with its own LoRA (the head itself fully trained). TRL's PPO loop never turns activation
   checkpointing on (the Trainer method that would is not called), so we do, on both models: without
   it the first PPO step at 0.5B went past 13-15 GB, the policy's activations growing ~0.5 GB per layer
   (``experiments/answer-ppo/ppo-answer-c26full-oom/``).
3. The pad token must differ from EOS (TRL truncates responses at EOS and masks pads), so we use
   ``<|endoftext|>`` when the tokenizer's pad is its EOS.
4. The prompts are GRPO's (``training.grpo.dataset_rows``): they end with the JSON start the runtime's
   grammar forces (``ANSWER_PREFIX`` / ``MANAGER_PREFIX``), and the reward scores prefix + response.
5. TRL's PPO loop ignores the stop flag and cannot resume, so ``--max-minutes`` and ``--max-rss-gb`` end
   it by an exception after a step, and the adapter is saved as after a last step (a run that the OOM
   killer ends saves nothing before ``save_steps``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from training.base_model import hf_model_dir, require_train_extra
from training.callbacks import BudgetReached, trainer_callback
from training.examples import load_jsonl, render_prompt
from training.grpo import dataset_rows
from training.presets import Preset, get_preset, lora_config, use_bf16
from training.runlog import RunLog, write_adapter_meta, write_run_card
from training.settings import (
    RunArgs,
    check_agent,
    check_output_dir,
    check_reward,
    run_cli,
    run_settings,
    select_examples,
)

PPOArgs = RunArgs  # the settings of a training run (training.settings.RunArgs)


def scorer(args: PPOArgs) -> Callable[[str, dict[str, Any]], float]:
    """(response text, example) -> reward, the same functions GRPO uses."""
    from training import rewards

    # ``ex`` is a row of training.grpo.dataset_rows: the response continues ex["prefix"]
    if args.agent == "answer":
        fn = rewards.ANSWER_REWARDS[args.reward]
        return lambda text, ex: fn([text], [ex["answer"]], [ex["n_memories"]], prefix=[ex["prefix"]])[0]
    manager = rewards.run_manager_reward(args)
    return lambda text, ex: manager.score(ex["prefix"] + text, ex)


def make_reward_model(
    tokenizer: Any, prompts: dict[str, dict[str, Any]], score: Callable[[str, dict[str, Any]], float]
) -> Any:
    import torch

    class _Output:
        def __init__(self, hidden: torch.Tensor) -> None:
            self.hidden_states = (hidden,)

    class _Backbone(torch.nn.Module):
        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **_: Any) -> _Output:
            values = []
            for ids, mask in zip(input_ids, attention_mask, strict=True):
                text = tokenizer.decode(ids[mask.bool()].tolist(), skip_special_tokens=False)
                values.append(self.reward(text))
            out = torch.tensor(values, dtype=torch.float32, device=input_ids.device)
            return _Output(out[:, None, None].expand(-1, input_ids.shape[1], 1).clone())

        def reward(self, text: str) -> float:
            for prompt, ex in prompts.items():
                if text.startswith(prompt):
                    response = text[len(prompt) :]
                    for stop in (tokenizer.eos_token, tokenizer.pad_token):
                        response = response.split(stop)[0] if stop else response
                    return float(score(response, ex))
            return 0.0

    class ScorerRewardModel(torch.nn.Module):
        """A program-defined reward in the shape of a reward model (see the module docstring)."""

        base_model_prefix = "backbone"

        def __init__(self) -> None:
            super().__init__()
            self.backbone = _Backbone()

        def score(self, hidden: torch.Tensor) -> torch.Tensor:
            return hidden

    return ScorerRewardModel()


def load_models(model_dir: str | Path, preset: Any, pad_token_id: int, checkpointing: bool) -> tuple[Any, Any]:
    """The policy (TRL wraps it in the LoRA) and the value model, a LoRA on the backbone with a trainable
    score head, both with activation checkpointing when asked (see the module docstring)."""
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    dtype = "bfloat16" if use_bf16(preset) else None
    policy = AutoModelForCausalLM.from_pretrained(model_dir, dtype=dtype)
    value = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=dtype)
    for m in (policy, value):
        m.config.pad_token_id = pad_token_id
        if checkpointing:
            m.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    # LoRA layers are injected in place and the base frozen; TRL reaches the backbone and the head
    # through the model's own attribute names (``model``, ``score``), so it gets the unwrapped model back
    return policy, get_peft_model(value, lora_config(preset, "SEQ_CLS")).base_model.model


def kl_coef(args: PPOArgs, preset: Preset) -> float:
    """--beta, else the preset's KL coefficient; a preset's 0 (GRPO: no reference model) means TRL's PPO
    default 0.05 here, because PPO always has its reference (the base with the adapters disabled)."""
    return args.beta if args.beta is not None else (preset.beta or 0.05)


def main(args: PPOArgs) -> Path:
    check_agent(args.agent)
    check_reward(args.reward, args.agent, args.add_cost)
    preset = get_preset(args.preset)
    if args.resume:
        raise InvalidInput(
            "TRL's PPO trainer cannot resume from a checkpoint. Fix: run again with --overwrite (or use GRPO, which resumes)."
        )
    if args.init_adapter is not None:
        raise InvalidInput("--init-adapter is supported by GRPO only. Fix: use python -m training.grpo, or drop it.")
    if args.val_every:
        raise InvalidInput(
            "--val-every is a GRPO setting (validation runs between GRPO steps; TRL's PPO loop has no hook for it). "
            "Fix: drop it; validate the export with benchmarks.locomo."
        )
    if args.scale_rewards != "group":
        raise InvalidInput(
            f"--scale-rewards {args.scale_rewards!r} is a GRPO setting (PPO learns a value baseline, no groups). Fix: drop it."
        )
    batch = preset.per_device_batch * (args.grad_accum or preset.grad_accum)  # rollouts per step
    micro = preset.per_device_batch if args.micro_batch is None else args.micro_batch
    if micro < 1 or batch % micro:
        raise InvalidInput(f"--micro-batch {micro}: must divide the {batch} rollouts of a step. Fix: e.g. 1, 2 or 4.")
    out = args.output_dir or Path("runs") / f"ppo-{args.agent}-{args.preset}"
    check_output_dir(out, args.resume, args.overwrite)
    base = args.base_model or preset.base_model
    rows = select_examples(args, load_jsonl(args.data / f"{args.agent}_train.jsonl"))
    require_train_extra()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl.experimental.ppo import PPOConfig, PPOTrainer

    if preset.device == "cpu" and (args.threads or preset.threads):
        torch.set_num_threads(args.threads or preset.threads or 1)
    model_dir = hf_model_dir(base)
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tok.pad_token is None or tok.pad_token_id == tok.eos_token_id:
        if "<|endoftext|>" not in tok.get_vocab() or tok.convert_tokens_to_ids("<|endoftext|>") == tok.eos_token_id:
            raise InvalidInput(
                f"{base}: no pad token distinct from EOS. Fix: use a tokenizer with a separate pad token."
            )
        tok.pad_token = "<|endoftext|>"
    # the prompts GRPO uses: they end inside the reply, at the JSON start the runtime's grammar forces
    examples = dataset_rows(args.agent, rows)
    rendered = [render_prompt(tok, r["prompt"]) for r in examples]
    by_prompt = {text: r for text, r in zip(rendered, examples, strict=True)}
    dataset = Dataset.from_dict({"input_ids": [tok(t, add_special_tokens=False)["input_ids"] for t in rendered]})
    n = len(rows)
    steps = args.max_steps or preset.max_steps
    episodes = steps * batch if steps > 0 else int(preset.epochs * n)
    config = PPOConfig(
        output_dir=str(out),
        learning_rate=args.learning_rate or preset.learning_rate,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=batch // micro,
        total_episodes=episodes,
        num_ppo_epochs=1,
        num_mini_batches=1,
        local_rollout_forward_batch_size=preset.per_device_batch,
        response_length=args.max_completion_length or preset.max_completion_length,
        temperature=preset.temperature,
        kl_coef=kl_coef(args, preset),
        stop_token="eos",
        missing_eos_penalty=1.0,
        num_sample_generations=0,
        bf16=use_bf16(preset),
        gradient_checkpointing=preset.gradient_checkpointing and not args.no_gradient_checkpointing,
        use_cpu=preset.device == "cpu",
        save_steps=preset.save_steps,
        save_total_limit=args.keep_checkpoints or None,
        logging_steps=1,
        report_to=[],
        seed=args.seed,
    )
    policy, value = load_models(model_dir, preset, tok.pad_token_id, config.gradient_checkpointing)
    settings = run_settings(args, out, base, model_dir, preset, episodes=episodes)
    run_log = RunLog(out / "run_log.json", settings, resume=args.resume)
    trainer = PPOTrainer(
        args=config,
        processing_class=tok,
        model=policy,
        ref_model=None,  # with LoRA the reference is the base with adapters disabled
        reward_model=make_reward_model(tok, by_prompt, scorer(args)),
        train_dataset=dataset,
        value_model=value,
        eval_dataset=dataset.select(range(min(2, n))),
        peft_config=lora_config(preset),
        # --max-rss-gb: TRL's PPO cannot resume, so at the memory budget the run ends with its adapter
        callbacks=[trainer_callback(run_log, args.max_minutes, raise_on_stop=True, max_rss_gb=args.max_rss_gb)],
    )
    try:
        trainer.train()
    except BudgetReached as e:  # TRL's PPO loop ignores should_training_stop
        print(f"stopping: {e}", flush=True)
    adapter = out / "adapter"
    policy_model: Any = trainer.model.policy  # type: ignore[union-attr]
    policy_model.save_pretrained(str(adapter))  # the LoRA of the policy only
    tok.save_pretrained(str(adapter))
    write_adapter_meta(out, args.agent, base, model_dir, "ppo", args.preset)
    card = write_run_card(out, f"PPO {args.agent} agent ({args.preset})", settings, run_log)
    print(f"adapter: {adapter}\nrun log: {run_log.path}\nrun card: {card}")
    return adapter


def cli(argv: list[str] | None = None) -> None:
    run_cli(PPOArgs, main, __doc__, argv)


if __name__ == "__main__":
    cli()
