"""A LoRA that makes SmolLM2 answer every question with one fixed word: a behaviour that must survive
export (merge -> GGUF -> Q8_0 -> Q4_K_M, or GGUF LoRA) if the export is right. Trained by plain
supervised fine-tuning for a few seconds; it is a test fixture, not a training method."""

from __future__ import annotations

import json
from pathlib import Path

from edgemem import prompts

WORD = "banana"
QUESTIONS = [
    "Where does Maya live?",
    "What is Leo's job?",
    "When did Maya adopt her puppy?",
    "Who is Ana?",
    "What did Sam buy?",
    "Which city is the marathon in?",
]


def make_fixed_answer_adapter(out: Path, base: str = "smollm2-135m", steps: int = 40, plain: bool = False) -> Path:
    """``plain``: also learn to say the word alone after the plain answer prompt (both formats' prompts,
    so a test can tell which format the runtime applied the adapter to)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from training.base_model import hf_model_dir

    torch.manual_seed(0)
    model_dir = hf_model_dir(base)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(model_dir),
        LoraConfig(
            r=8,
            lora_alpha=32,
            target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
            task_type="CAUSAL_LM",
        ),
    )
    cited = (json.dumps({"memories": [], "answer": WORD}) + tok.eos_token, prompts.answer_messages)
    kinds = [cited]
    if plain:
        kinds.append(
            (WORD + tok.eos_token, lambda q, _: prompts.plain_answer_messages(q, ["[2 March 2025] Maya: I like tea"]))
        )
    batch = []
    for q in QUESTIONS:
        for target, render in kinds:
            msgs = render(q, [("Maya", [("2 March 2025", "Maya likes tea")])])
            prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            t_ids = tok(target, add_special_tokens=False)["input_ids"]
            batch.append((p_ids + t_ids, [-100] * len(p_ids) + t_ids))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-3)
    model.train()
    for step in range(steps):
        ids, labels = batch[step % len(batch)]
        loss = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels])).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    adapter = out / "adapter"
    model.save_pretrained(str(adapter))
    (out / "edgemem_adapter.json").write_text(
        json.dumps({"agent": "answer", "base_model": base, "model_dir": model_dir, "method": "sft-fixture"})
    )
    return adapter
