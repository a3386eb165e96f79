"""Does activation checkpointing lower the memory of a 0.5B forward with gradients on this stack?

    OMP_NUM_THREADS=1 python benchmarks/results/ppo-answer-c26full-oom/ckpt_probe.py off   # then: on

RSS growth of one backbone forward (as TRL's value model and reward call it), [8, 909] tokens, bf16,
train mode; a fresh process for each setting. Session 11: 11.92 GB off, 1.44 GB on (ckpt-probe.txt).
"""

import resource
import sys

import torch
from transformers import AutoModelForCausalLM


def rss_gb() -> float:
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**30


torch.set_num_threads(1)
on = sys.argv[1] == "on"
model = AutoModelForCausalLM.from_pretrained("/root/.cache/edgemem/hf/qwen2.5-coder-0.5b", dtype="bfloat16")
if on:
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
model.train()
ids = torch.randint(0, 1000, (8, 909))
before = rss_gb()
model.model(input_ids=ids, output_hidden_states=True)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
print(
    f"checkpointing={on} attn={model.config._attn_implementation} backbone forward grew "
    f"{rss_gb() - before:.2f} GB (peak {peak:.2f} GB)"
)
