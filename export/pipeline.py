"""The export chain: a trained LoRA adapter -> merged + quantized GGUF (or a GGUF LoRA), verified, with a
manifest per type. ``python -m export`` (``export/__main__.py``) is its command line; its help lists the steps."""

from __future__ import annotations

import errno
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgemem.errors import InvalidInput
from edgemem.manifest import AGENTS, FORMAT, ServedModel, file_entry, load_manifest
from edgemem.models import REGISTRY, resolve_model, sha256_file
from export.converter import ExportError, llama_cpp_version, run_script

QUANTS = ("Q4_K_M", "Q5_K_M", "Q8_0", "F16")


@dataclass
class ExportArgs:
    adapter: Path  # the adapter folder a training run wrote (PEFT)
    agent: str  # manager | answer
    out: Path  # the export folder (must not exist unless --overwrite)
    base: str | None = None  # base model (registry name, HF folder/id); default: the one it was trained on
    quant: str = "Q4_K_M"  # comma list of Q4_K_M, Q5_K_M, Q8_0, F16
    lora_only: bool = False  # write a GGUF LoRA for the base GGUF instead of a merged model
    threads: int = 1
    probes: int = 6
    overwrite: bool = False
    # --lora-only: also serve the other agent's adapter of this earlier LoRA export (same base), so one
    # manifest runs a trained manager with a trained answer agent
    join: Path | None = None


def say(msg: str) -> None:
    print(f"[export] {msg}", flush=True)


def check_args(args: ExportArgs) -> tuple[list[str], dict[str, Any], ServedModel | None]:
    if args.agent not in AGENTS:
        raise InvalidInput(f"Unknown agent {args.agent!r}. Expected one of: {', '.join(AGENTS)}.")
    quants = [q.strip().upper() for q in args.quant.split(",") if q.strip()]
    bad = [q for q in quants if q not in QUANTS]
    if bad or not quants:
        raise InvalidInput(f"Unknown quant type {', '.join(bad) or args.quant!r}. Expected: {', '.join(QUANTS)}.")
    if not (args.adapter / "adapter_config.json").exists():
        raise InvalidInput(
            f"{args.adapter} is not a LoRA adapter folder (no adapter_config.json). Fix: pass <run>/adapter."
        )
    if args.out.exists() and not args.overwrite:
        raise InvalidInput(f"{args.out} already exists. Fix: pass --overwrite or another --out.")
    parent = args.out.resolve().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InvalidInput(
            f"Cannot create the output folder under {parent} ({e.strerror}). Fix: choose a writable --out."
        ) from e
    if not os.access(parent, os.W_OK):
        raise InvalidInput(f"Cannot write to {parent}. Fix: choose a writable --out.")
    meta_path = args.adapter.parent / "edgemem_adapter.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if args.base and meta.get("base_model") and args.base != meta["base_model"]:
        raise InvalidInput(
            f"The adapter was trained on {meta['base_model']}, not {args.base}. Fix: pass --base {meta['base_model']} (or omit --base)."
        )
    if not (args.base or meta.get("base_model")):
        raise InvalidInput(f"No base model known for {args.adapter}. Fix: pass --base.")
    joined = None
    if args.join is not None:
        base = args.base or meta["base_model"]
        joined = load_manifest(args.join) if args.lora_only else None  # verifies its files
        if joined is None or joined.manifest["kind"] != "lora":
            raise InvalidInput(
                f"--join {args.join} combines GGUF LoRA exports only. Fix: pass --lora-only and the manifest "
                "of a --lora-only export."
            )
        if joined.manifest["base"]["id"] != base:
            raise InvalidInput(
                f"{args.join} is on {joined.manifest['base']['id']}, this adapter on {base}. "
                "Fix: join exports of the same base model."
            )
    return quants, meta, joined


def load_merged(base_dir: str, adapter: Path) -> tuple[Any, Any]:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(base_dir)
    try:
        model = PeftModel.from_pretrained(base, str(adapter))
    except (RuntimeError, ValueError, KeyError) as e:
        raise InvalidInput(
            f"The adapter {adapter} does not fit the base model {base_dir} ({str(e)[:200]}). Fix: pass the base it was trained on."
        ) from e
    return model.merge_and_unload().eval(), AutoTokenizer.from_pretrained(base_dir)


def quantize(src: Path, dst: Path, quant: str, threads: int) -> None:
    import ctypes

    import llama_cpp

    ftype = {
        "Q4_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "Q5_K_M": llama_cpp.LLAMA_FTYPE_MOSTLY_Q5_K_M,
        "Q8_0": llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0,
        "F16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16,
    }[quant]
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.nthread = threads
    if llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params)) != 0:
        raise ExportError(f"llama.cpp could not quantize {src.name} to {quant}.")


def export(args: ExportArgs) -> Path:
    """Run the whole export; returns the path of the (first) manifest."""
    quants, meta, joined = check_args(args)
    from training.base_model import hf_model_dir

    base = args.base or meta["base_model"]
    staging = args.out.resolve().with_name(args.out.name + f".partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        manifests = _export(args, base, hf_model_dir(base), quants, staging, joined)
        if args.out.exists():
            shutil.rmtree(args.out)
        staging.rename(args.out)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise ExportError(f"The disk holding {args.out} is full. Fix: free space or choose another --out.") from e
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    first = args.out / manifests[0]
    say(f"done: {first}")
    return first


def _export(
    args: ExportArgs, base: str, base_dir: str, quants: list[str], staging: Path, joined: ServedModel | None
) -> list[str]:
    from export import verify

    say(f"merge {args.adapter} into {base}")
    merged, tok = load_merged(base_dir, args.adapter)
    common = {
        "format": FORMAT,
        "agent": args.agent,
        "adapter": {
            "path": str(args.adapter.resolve()),
            "sha256": sha256_file(args.adapter / "adapter_model.safetensors"),
        }
        if (args.adapter / "adapter_model.safetensors").exists()
        else {"path": str(args.adapter.resolve())},
        "chat_template": tok.chat_template,
        "llama_cpp_version": llama_cpp_version(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    if args.lora_only:
        if base not in REGISTRY:
            raise InvalidInput(
                f"--lora-only needs a packaged base GGUF ({', '.join(REGISTRY)}); {base} is not one. Fix: export merged."
            )
        base_gguf = resolve_model(base)
        lora = staging / f"{args.agent}-lora.gguf"
        say("convert the LoRA to GGUF (convert_lora_to_gguf.py)")
        run_script(
            "convert_lora_to_gguf.py",
            # absolute paths: the script runs from the converter's folder
            [
                str(args.adapter.resolve()),
                "--base",
                str(Path(base_dir).resolve()),
                "--outfile",
                str(lora.resolve()),
                "--outtype",
                "f16",
            ],
        )
        say("verify on the base GGUF + adapter")
        fid = _fidelity_with_adapter(base_gguf, lora, merged, tok, args)
        manifest = {
            **common,
            "kind": "lora",
            "quant": "base",
            "base": {"id": base, "sha256": sha256_file(base_gguf), "file": base_gguf.name},
            "adapters": {args.agent: file_entry(lora, staging), **joined_adapters(args, joined, staging)},
            "fidelity": fid,
            "speed": {
                "base": verify.speed(base_gguf, args.threads),
                "with_adapter": verify.speed(base_gguf, args.threads, lora),
            },
        }
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2))
        return ["manifest.json"]
    hf_dir = staging / "hf-merged"
    merged.save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    f16 = staging / "model-F16.gguf"
    say("convert to GGUF f16 (convert_hf_to_gguf.py)")
    run_script(
        "convert_hf_to_gguf.py", [str(Path(hf_dir).resolve()), "--outfile", str(f16.resolve()), "--outtype", "f16"]
    )
    names: list[str] = []
    for q in quants:
        path = f16 if q == "F16" else staging / f"model-{q}.gguf"
        if q != "F16":
            say(f"quantize to {q}")
            quantize(f16, path, q, args.threads)
        say(f"verify {path.name}")
        manifest = {
            **common,
            "kind": "merged",
            "quant": q,
            "base": {"id": base, "sha256": sha256_file(resolve_model(base)) if base in REGISTRY else None},
            "model": file_entry(path, staging),
            "fidelity": verify.fidelity(path, merged, tok, args.probes, args.threads),
            "speed": verify.speed(path, args.threads),
        }
        name = "manifest.json" if not names else f"manifest-{q}.json"
        (staging / name).write_text(json.dumps(manifest, indent=2))
        names.append(name)
    if "F16" not in quants:
        f16.unlink()
    shutil.rmtree(hf_dir)  # the merged HF copy served only to convert and to compare
    return names


def _fidelity_with_adapter(base_gguf: Path, lora: Path, merged: Any, tok: Any, args: ExportArgs) -> dict[str, Any]:
    """Exact-match fidelity of base GGUF + GGUF LoRA, served the way the runtime serves them."""
    from edgemem.engine import LlamaEngine
    from export import verify

    engine = LlamaEngine(base_gguf, n_ctx=4096, threads=args.threads, adapters={args.agent: lora}, constrained=False)
    exact = []
    try:
        for _, msgs in verify.probes(args.probes):
            ref = verify.hf_greedy(merged, tok, engine.tokenize_messages(msgs))
            text = engine.complete(msgs, max_tokens=verify.MAX_NEW, adapter=args.agent).text
            exact.append(float(text.strip() == tok.decode(ref, skip_special_tokens=True).strip()))
    finally:
        engine.close()
    return {
        "probes": len(exact),
        "exact_match": sum(exact) / len(exact) if exact else None,
        "max_new_tokens": verify.MAX_NEW,
    }


def joined_adapters(args: ExportArgs, joined: ServedModel | None, staging: Path) -> dict[str, Any]:
    """The other agents' adapters of ``--join``'s export (checked by ``check_args``), copied next to this one."""
    if joined is None:
        return {}
    out = {}
    for agent, path in joined.adapters.items():
        if agent != args.agent:
            say(f"join the {agent} adapter of {args.join}")
            dst = staging / f"{agent}-lora.gguf"
            shutil.copyfile(path, dst)
            out[agent] = {**file_entry(dst, staging), "from": str(args.join)}
    return out
