"""Turn a training output (a PEFT LoRA adapter) into GGUF files the edgemem runtime serves."""
