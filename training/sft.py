"""SFT warm-start of the Answer Agent from a larger model's answers (Memory-R1's Memory-SFT baseline, small).

    python -m training.data --agents answer --answer-k 5 --answer-turns-k 5 --out runs/data-k5t5
    python -m training.sft --data runs/data-k5t5 --teacher qwen2.5-coder-1.5b --output-dir runs/sft-answer
    python -m export --adapter runs/sft-answer/adapter --agent answer --lora-only --out exports/sft-answer

    # rejection sampling: the student's own model answers each prompt 8 times, the best right one is learnt
    python -m training.sft --data runs/data-c26s8 --teacher qwen2.5-coder-0.5b --samples 8 --answerable-only
    # a second round: the first round's exported answer agent is the teacher; the student again
    # starts from the base model (ReST-EM), so it does not drift by fine-tuning on its own fine-tune
    python -m training.sft --data runs/data-c26s8 --teacher exports/rft-answer-c26s8/manifest.json --samples 8 \
        --answerable-only --output-dir runs/rft2-answer-c26s8

    # smoke (SmolLM2 teaches itself; proves the code path, not a useful model)
    python -m training.sft --data runs/data-smoke --preset cpu-smoke --teacher smollm2-135m --min-f1 0

Two stages, one script:
1. Targets. The teacher (a packaged GGUF, through the runtime's own engine, grammar and greedy decoding,
   or the best of ``--samples`` replies) answers every training prompt; an answer is kept when its
   token-set F1 against the gold answer reaches ``--min-f1``. Why a teacher and not the gold answers: the student must also learn which
   memories to cite, and the teacher's outputs are complete replies in the runtime's format. The
   answers are cached in ``<out>/targets.jsonl`` (one line per prompt, appended as they come), so an
   interrupted run continues where it stopped.
2. Training. A LoRA on the preset's base model, TRL ``SFTTrainer``, loss on the reply only. The
   prompt ends with the reply's forced start (``ANSWER_PREFIX``, what the runtime's grammar
   admits first), so the student learns the part of the reply the grammar leaves open, exactly as
   the GRPO rollouts do.

Output: ``<out>/adapter`` (PEFT LoRA, exported like a GRPO adapter), ``run_log.json`` (loss per step,
greedy validation reward on conv-30 prompts when ``--val-every`` is set), ``RUN_CARD.md``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.prompts import ANSWER_PREFIX, ANSWER_SCHEMA_BASE
from training.base_model import hf_model_dir, require_train_extra
from training.callbacks import trainer_callback
from training.examples import answerable, load_jsonl, render_prompt
from training.presets import get_preset, lora_config, use_bf16
from training.runlog import RunLog, write_adapter_meta, write_run_card
from training.settings import check_output_dir, run_cli, run_settings


@dataclass
class SFTArgs:
    data: Path = Path("runs/data")  # training.data output (answer_train.jsonl, answer_val.jsonl)
    # whose answers are the targets: a registry name or a GGUF path, an export manifest.json (its
    # answer adapter answers: a second round of rejection sampling from the first round's model), or
    # "gold" (the dataset's answers, citing the shown memories that contain a word of them)
    teacher: str = "qwen2.5-coder-1.5b"
    teacher_threads: int = 1
    # best of N: the teacher answers each prompt this many times (the first greedy, the others sampled
    # at --temperature) and the reply with the highest strict F1 is the target. With the student's own
    # model as teacher this is rejection-sampling fine-tuning (RAFT / ReST / expert iteration): the
    # targets stay in the student's own wording, and an answer is learnt only where it was right.
    samples: int = 1
    temperature: float = 0.8
    min_f1: float = 0.5  # keep a teacher answer when its F1 against the gold answer reaches this
    preset: str = "cpu-0.5b"  # the student: base model, LoRA size, threads, bf16 (training.presets.PRESETS)
    output_dir: Path | None = None  # default runs/sft-answer-<preset>
    epochs: float = 2.0
    learning_rate: float = 1e-4
    grad_accum: int = 4  # examples per optimiser step (one example per forward pass)
    limit: int | None = None  # only the first N training prompts (smoke runs)
    # ask the teacher only about prompts holding a word of the gold answer (the others cannot reach
    # --min-f1 unless the teacher guesses: about a third of conv-26's, and a third of the teacher's time)
    answerable_only: bool = False
    val_every: int = 0  # every N optimiser steps, greedy answers on the validation prompts (0: off)
    val_limit: int = 24
    max_minutes: float | None = None
    threads: int | None = None  # torch CPU threads (override the preset)
    overwrite: bool = False
    seed: int = 0


def teacher_targets(args: SFTArgs, rows: list[dict[str, Any]], out: Path) -> list[dict[str, Any]]:
    """The teacher's best grammar-constrained reply to every row (greedy, or the best of
    ``args.samples``), with its F1 (cached, resumable)."""
    from edgemem.config import ANSWER_ADAPTERS, MemoryConfig
    from edgemem.engine import LlamaEngine
    from edgemem.manifest import served_model
    from edgemem.prompts import PLAIN_ANSWER_MAX_TOKENS, first_line
    from training.rewards import answer_f1_json, answer_f1_plain

    path = out / "targets.jsonl"
    done: list[dict[str, Any]] = []
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                done.append(json.loads(line))
            except ValueError:  # the line being written when the run was killed: answer it again
                break
        path.write_text("".join(json.dumps(t) + "\n" for t in done), encoding="utf-8")
    if done and done[0].get("teacher") != args.teacher:
        raise InvalidInput(
            f"{path} holds answers of {done[0].get('teacher')}, not {args.teacher}. Fix: pass --teacher "
            f"{done[0].get('teacher')} or another --output-dir."
        )
    if args.samples < 1:
        raise InvalidInput(
            f"--samples {args.samples}: the teacher must answer at least once. Fix: pass --samples 1 or more."
        )
    if done and args.teacher != "gold" and done[0].get("samples", 1) != args.samples:
        raise InvalidInput(
            f"{path} holds the best of {done[0].get('samples', 1)} answers per prompt, not of {args.samples}. "
            f"Fix: pass --samples {done[0].get('samples', 1)} or another --output-dir."
        )
    check_targets_match(done, rows, path)
    if len(done) >= len(rows):
        return done[: len(rows)]
    if args.teacher == "gold":
        done = [
            {
                "i": i,
                "teacher": "gold",
                "text": gold_reply(r),
                "f1": 1.0,
                "gold": r["answer"],
                "prompt": prompt_digest(r),
            }
            for i, r in enumerate(rows)
        ]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(t) + "\n" for t in done), encoding="utf-8")
        return done
    served = served_model(args.teacher)  # a manifest: the sha256 of its base model and adapters are verified
    engine = LlamaEngine(served.model, n_ctx=4096, threads=args.teacher_threads, adapters=dict(served.adapters))
    out.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        for i, r in enumerate(rows[len(done) :], len(done)):
            fmt = row_format(r)
            cited = fmt == "cited"  # cited: JSON under the schema; plain: a short line of text
            name = ANSWER_ADAPTERS[fmt]  # the format's adapter name is also its prompt-cache key
            adapter = name if name in served.adapters else None
            # the same prompt every time: llama.cpp keeps its KV cache, so a further sample costs only
            # its decoding
            texts = [
                engine.complete(
                    r["messages"],
                    schema=ANSWER_SCHEMA_BASE if cited else None,
                    max_tokens=MemoryConfig.answer_max_tokens if cited else PLAIN_ANSWER_MAX_TOKENS,
                    temperature=0.0 if k == 0 else args.temperature,
                    prefix_key=name,
                    adapter=adapter,
                ).text
                for k in range(args.samples)
            ]
            if cited:
                scores = answer_f1_json(texts, [r["answer"]] * len(texts), [r["n_memories"]] * len(texts))
            else:  # the runtime reads a plain reply's first line: that line is the target
                texts = [first_line(t) for t in texts]
                scores = answer_f1_plain(texts, [r["answer"]] * len(texts))
            best = max(range(len(texts)), key=lambda k: scores[k])  # ties: the earliest, greedy first
            target = {
                "i": i,
                "teacher": args.teacher,
                "samples": args.samples,
                "text": texts[best],
                "f1": scores[best],
                "greedy_f1": scores[0],
                "gold": r["answer"],
                "prompt": prompt_digest(r),
            }
            f.write(json.dumps(target) + "\n")
            f.flush()
            done.append(target)
            print(
                f"  teacher {i + 1}/{len(rows)}: F1 {scores[best]:.2f} (greedy {scores[0]:.2f})  {texts[best][:90]!r}",
                flush=True,
            )
    engine.close()
    return done


def row_format(row: dict[str, Any]) -> str:
    """The answer format a training row's prompt was rendered in (rows built before plain answers: cited)."""
    return str(row.get("answer_format", "cited"))


def prompt_digest(row: dict[str, Any]) -> str:
    """A short fingerprint of a row's prompt: cached targets name the prompt they answered."""
    return hashlib.sha256(json.dumps(row["messages"], sort_keys=True).encode()).hexdigest()[:16]


def check_targets_match(done: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path) -> None:
    """Cached targets are reused only for the prompts they answered. Why: the prompts come from a
    memory bank, and a bank rebuilt elsewhere can differ (another answerable set, other memory
    numbers), so a target could cite memories the student never sees next to it."""
    for t in done[: len(rows)]:
        row = rows[t["i"]]
        if t.get("gold", row["answer"]) != row["answer"] or ("prompt" in t and t["prompt"] != prompt_digest(row)):
            raise InvalidInput(
                f"{path} line {t['i'] + 1} answered another prompt than row {t['i']} of the data (gold "
                f"{t.get('gold')!r}, data {row['answer']!r}): the data was rebuilt differently. Fix: pass "
                "another --output-dir to sample new targets, or the data the targets were sampled from."
            )


def gold_reply(row: dict[str, Any]) -> str:
    """The reply a perfect agent could give: the gold answer, citing (at most ``MAX_CITED``) shown
    memories that hold one of its content words.

    >>> row = {"answer": "Berlin", "messages": [{"role": "user", "content": "[1] t: Rome trip\\n[2] t: moved to Berlin"}]}
    >>> gold_reply(row)
    '{"memories": [2], "answer": "Berlin"}'
    """
    import re

    from edgemem.metrics import content_words
    from edgemem.prompts import MAX_CITED

    words = content_words(str(row["answer"]))
    text = "\n".join(m["content"] for m in row["messages"] if m["role"] == "user")
    # the words after "timestamp: " (a date answer would otherwise cite every memory of that month)
    lines = re.findall(r"^\[(\d+)\] (.*)$", text, flags=re.M)
    cited = [int(n) for n, line in lines if words & content_words(line.split(": ", 1)[-1])]
    return json.dumps({"memories": cited[:MAX_CITED], "answer": str(row["answer"])}, ensure_ascii=False)


def completion_of(text: str) -> str | None:
    """The part of a reply after ``ANSWER_PREFIX``, in the canonical JSON spelling; None if it is not
    one JSON object of the answer schema (then it cannot be a target).

    >>> completion_of('{"memories":[2,4],"answer":"Lisbon"}')
    '2, 4], "answer": "Lisbon"}'
    >>> completion_of('Lisbon') is None
    True
    """
    from training.rewards import schema_valid

    if not schema_valid(text):
        return None
    obj = json.loads(text)  # rebuilt in the grammar's key order, so it starts with ANSWER_PREFIX
    canonical = json.dumps({"memories": obj["memories"], "answer": obj["answer"]}, ensure_ascii=False)
    return canonical[len(ANSWER_PREFIX) :]


def sft_rows(rows: list[dict[str, Any]], targets: list[dict[str, Any]], min_f1: float) -> list[dict[str, Any]]:
    """Prompt (chat messages + the forced reply start) and completion for every kept teacher answer."""
    kept = []
    for r, t in zip(rows, targets, strict=False):
        if t["f1"] < min_f1:
            continue
        if row_format(r) == "plain":  # no forced start: the reply is the answer line
            if t["text"].strip():
                kept.append({"messages": r["messages"], "completion": t["text"].strip()})
            continue
        completion = completion_of(t["text"])
        if completion is not None:
            kept.append(
                {
                    "messages": [*r["messages"], {"role": "assistant", "content": ANSWER_PREFIX}],
                    "completion": completion,
                }
            )
    return kept


def tokenize_example(tokenizer: Any, prompt: str, completion: str) -> dict[str, list[int]]:
    """Token ids of prompt + completion + end of turn, and the mask of the tokens the loss is on.

    Prompt and completion are tokenized apart, as the runtime sees them: llama.cpp tokenizes the
    prompt, which ends with the forced reply start ``{"memories": [``, and the model generates from
    there. Tokenizing the joined text (what TRL does with prompt/completion columns) merges the
    prefix's ``[`` with a completion's ``]`` into one ``[]`` token, which the model never sees at
    run time, and shifts the loss mask by a token. The end-of-sequence token teaches it to stop."""
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    completion_ids = [*tokenizer(completion, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
    return {
        "input_ids": [*prompt_ids, *completion_ids],
        "completion_mask": [0] * len(prompt_ids) + [1] * len(completion_ids),
    }


def main(args: SFTArgs) -> Path:
    preset = get_preset(args.preset)
    out = args.output_dir or Path("runs") / f"sft-answer-{args.preset}"
    check_output_dir(out, False, args.overwrite)
    rows = load_jsonl(args.data / "answer_train.jsonl")
    rows = [r for r in rows if answerable(r)][: args.limit] if args.answerable_only else rows[: args.limit]
    targets = teacher_targets(args, rows, out)
    examples = sft_rows(rows, targets, args.min_f1)
    print(f"teacher answers kept: {len(examples)} of {len(rows)} (F1 >= {args.min_f1})", flush=True)
    if not examples:
        raise InvalidInput(
            f"No teacher answer reached F1 {args.min_f1}. Fix: lower --min-f1 or use a stronger --teacher."
        )
    require_train_extra()

    import torch
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    from training.grpo import reward_validation
    from training.rewards import answer_f1_json, answer_f1_plain

    plain = row_format(rows[0]) == "plain"
    if any((row_format(r) == "plain") != plain for r in rows):
        raise InvalidInput(
            f"{args.data} mixes cited and plain answer prompts. Fix: rebuild it with one --answer-format."
        )

    if preset.device == "cpu":
        torch.set_num_threads(args.threads or preset.threads or 1)
    base = preset.base_model
    model_dir = hf_model_dir(base)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # Tokenized here, not by TRL: see tokenize_example.
    train = [tokenize_example(tokenizer, render_prompt(tokenizer, e["messages"]), e["completion"]) for e in examples]
    config = SFTConfig(
        output_dir=str(out),
        learning_rate=args.learning_rate,
        per_device_train_batch_size=1,  # no padding waste on a CPU
        gradient_accumulation_steps=args.grad_accum,
        num_train_epochs=args.epochs,
        bf16=use_bf16(preset),
        gradient_checkpointing=preset.gradient_checkpointing,
        use_cpu=preset.device == "cpu",
        completion_only_loss=True,
        max_length=None,  # the answer prompts fit the model; never cut the reply off
        save_strategy="no",
        logging_steps=1,
        report_to=[],
        seed=args.seed,
        model_init_kwargs={"dtype": "bfloat16"} if use_bf16(preset) else None,
    )
    lora = lora_config(preset)
    settings = run_settings(
        args,
        out,
        base,
        model_dir,
        preset,
        examples=len(train),
        teacher_f1_mean=sum(t["f1"] for t in targets) / len(targets),
        teacher_greedy_f1_mean=sum(t.get("greedy_f1", t["f1"]) for t in targets) / len(targets),
    )
    run_log = RunLog(out / "run_log.json", settings)
    callbacks = [trainer_callback(run_log, args.max_minutes)]
    if args.val_every:
        callbacks.append(
            reward_validation(
                run_log,
                answer_f1_plain if plain else answer_f1_json,
                "answer",
                args.data,
                args.val_limit,
                args.val_every,
                preset.max_completion_length,
            )
        )
    trainer = SFTTrainer(
        model=model_dir,
        args=config,
        train_dataset=Dataset.from_list(train),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=callbacks,
    )
    trainer.train()
    trainer.save_model(str(out / "adapter"))
    # a plain-answer LoRA is its own agent: the runtime applies it to plain answers only
    write_adapter_meta(out, "answer-plain" if plain else "answer", base, model_dir, "sft", args.preset)
    best_of = f", best of {args.samples}" if args.samples > 1 and args.teacher != "gold" else ""
    card = write_run_card(out, f"SFT answer agent from {args.teacher}{best_of} ({args.preset})", settings, run_log)
    print(f"adapter: {out / 'adapter'}\nrun log: {run_log.path}\nrun card: {card}")
    return out / "adapter"


def cli(argv: list[str] | None = None) -> None:
    run_cli(SFTArgs, main, __doc__, argv)


if __name__ == "__main__":
    cli()
