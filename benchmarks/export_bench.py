"""What each export costs and keeps: per quant type size, load time, tok/s, RSS and fidelity, and a
merged model vs the shipped base + GGUF LoRA adapter. Writes JSON under benchmarks/results/.

    python -m benchmarks.export_bench --adapter runs/grpo-answer-cpu-smoke/adapter --agent answer
    python -m benchmarks.export_bench --fixture        # a fixed-answer LoRA on SmolLM2, trained in seconds

Each export goes through ``python -m export`` (the same code users run), so its fidelity and speed
figures are the manifest's own; RSS is measured in a fresh process per file.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgemem.machine import machine_info

RESULTS = Path(__file__).resolve().parent / "results"


def rss_of(model: Path, adapter: Path | None, threads: int) -> dict[str, int]:
    code = (
        "import json; from edgemem.machine import rss_bytes; from edgemem.engine import LlamaEngine;"
        f"e = LlamaEngine({str(model)!r}, n_ctx=2048, threads={threads}, adapters={{'answer': {str(adapter)!r}}} if {adapter is not None} else None);"
        "e.complete([{'role': 'user', 'content': 'Say hello.'}], max_tokens=16, adapter='answer');"
        "print(json.dumps(rss_bytes()))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--adapter", type=Path, help="a training run's adapter folder")
    p.add_argument("--agent", default="answer")
    p.add_argument("--fixture", action="store_true", help="train the fixed-answer test LoRA on SmolLM2 and use it")
    p.add_argument("--quants", default="F16,Q8_0,Q5_K_M,Q4_K_M")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--probes", type=int, default=6)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)

    from edgemem.manifest import load_manifest
    from export.pipeline import ExportArgs, export

    with tempfile.TemporaryDirectory() as tmp:
        adapter = args.adapter
        if args.fixture:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
            from fixed_lora import make_fixed_answer_adapter

            adapter = make_fixed_answer_adapter(Path(tmp) / "fixture")
        if adapter is None:
            p.error("pass --adapter or --fixture")
        quants = [q.strip() for q in args.quants.split(",")]
        merged_dir = Path(tmp) / "merged"
        export(
            ExportArgs(
                adapter=adapter,
                agent=args.agent,
                out=merged_dir,
                quant=",".join(quants),
                threads=args.threads,
                probes=args.probes,
            )
        )
        rows = []
        for i, q in enumerate(quants):
            manifest = merged_dir / ("manifest.json" if i == 0 else f"manifest-{q}.json")
            data = json.loads(manifest.read_text())
            served = load_manifest(manifest)
            rows.append(
                {
                    "quant": q,
                    "bytes": data["model"]["bytes"],
                    "fidelity": data["fidelity"],
                    "speed": data["speed"],
                    "rss": rss_of(served.model, None, args.threads),
                }
            )
        lora_dir = Path(tmp) / "lora"
        export(
            ExportArgs(
                adapter=adapter,
                agent=args.agent,
                out=lora_dir,
                lora_only=True,
                threads=args.threads,
                probes=args.probes,
            )
        )
        lora_manifest = json.loads((lora_dir / "manifest.json").read_text())
        served = load_manifest(lora_dir / "manifest.json")
        lora = {
            "adapter_bytes": lora_manifest["adapters"][args.agent]["bytes"],
            "base_file": served.model.name,
            "base_bytes": served.model.stat().st_size,
            "fidelity": lora_manifest["fidelity"],
            "speed": lora_manifest["speed"],
            "rss_base": rss_of(served.model, None, args.threads),
            "rss_base_plus_adapter": rss_of(served.model, served.adapters[args.agent], args.threads),
        }
        base = lora_manifest["base"]["id"]
    result = {
        "benchmark": "export",
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "base_model": base,
        "adapter": "fixed-answer fixture (tests/fixed_lora.py)" if args.fixture else str(args.adapter),
        "threads": args.threads,
        "merged": rows,
        "lora": lora,
    }
    out = args.out or RESULTS / f"export-{base}-{datetime.now().strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(table(result))
    print(f"\nwritten: {out}")
    return result


def table(r: dict[str, Any]) -> str:
    lines = [
        "| file | size MB | load s | prefill tok/s | decode tok/s | peak RSS MB | exact match | next-token agreement |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in r["merged"]:
        s, f = row["speed"], row["fidelity"]
        lines.append(
            f"| merged {row['quant']} | {row['bytes'] / 1e6:.0f} | {s['load_s']:.2f} | {s['prefill_tok_s']:.0f} | {s['decode_tok_s']:.0f} | "
            f"{row['rss']['peak_rss'] / 1e6:.0f} | {f['exact_match']:.2f} | {f['next_token_agreement']:.3f} |"
        )
    lo = r["lora"]
    for key, label, rss in (
        ("base", f"base {lo['base_file']}", "rss_base"),
        ("with_adapter", f"base + GGUF LoRA ({lo['adapter_bytes'] / 1e6:.1f} MB)", "rss_base_plus_adapter"),
    ):
        s = lo["speed"][key]
        fid = f"{lo['fidelity']['exact_match']:.2f}" if key == "with_adapter" else "-"
        lines.append(
            f"| {label} | {lo['base_bytes'] / 1e6:.0f} | {s['load_s']:.2f} | {s['prefill_tok_s']:.0f} | {s['decode_tok_s']:.0f} | {lo[rss]['peak_rss'] / 1e6:.0f} | {fid} | - |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
