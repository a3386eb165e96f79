"""Export a trained LoRA adapter for the laptop runtime: merged + quantized GGUF, or a GGUF LoRA.

    python -m export --adapter runs/grpo-answer-cpu-smoke/adapter --agent answer --quant Q4_K_M --out exports/answer
    python -m export --adapter runs/grpo-answer-cpu-smoke/adapter --agent answer --lora-only --out exports/answer-lora
    python -m export --adapter runs/grpo-manager-cpu-smoke/adapter --agent manager --lora-only \
        --join exports/answer-lora/manifest.json --out exports/both-lora     # trained manager + answer agent
    edgemem ask "Where does Maya live?" --model exports/answer/manifest.json

Steps (each printed as it runs):
1. merge: base (HF folder, or a packaged GGUF dequantised by transformers) + LoRA -> merge_and_unload;
2. convert: llama.cpp's convert_hf_to_gguf.py of the installed llama-cpp-python's version -> GGUF f16;
3. quantize: llama_cpp.llama_model_quantize to each requested type;
   (--lora-only: convert_lora_to_gguf.py -> a small adapter applied on the base GGUF at run time)
4. verify: fidelity against the merged HF model on fixed probes, size, load time, tok/s;
5. manifest.json (one per quant type) with every file's sha256.
Everything is written to a staging folder that becomes --out only when all steps succeeded.
"""

from __future__ import annotations

from export.pipeline import ExportArgs, export
from training.settings import run_cli


def main(argv: list[str] | None = None) -> None:
    run_cli(ExportArgs, export, __doc__, argv, prog="python -m export")


if __name__ == "__main__":
    main()
