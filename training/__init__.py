"""RL fine-tuning of edgemem's two agents (Memory-R1) with TRL + PEFT LoRA. Needs the [train] extra."""
