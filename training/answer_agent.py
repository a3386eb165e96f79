"""Rebuild the trained answer agent from committed files, check it, and install it.

    make answer-agent        # = python -m training.answer_agent --threads 2 --train-threads 2
    python -m training.answer_agent --out runs/answer-agent --threads 2

The trained answer agent of the 0.5B model (registered in edgemem.models.SHIPPED_ADAPTERS, model card
docs/answer-agent.md) is rejection-sampling SFT on the prompts the runtime sends
(experiments/answer-agent-current-prompts): the student's own best of 8 answers to conv-26's questions, kept
at F1 >= 0.5. Sampling them is the slow part; the kept answers are committed (``--targets``), so a rebuild
only trains on them. A model file does not go into git or the package, so this script is how a user gets it:

1. data     conv-26's bank, built by the untrained manager with the runtime's defaults (cached in
            $EDGEMEM_HOME/banks, shared with the LoCoMo harness), and its answer prompts rendered as the
            runtime renders them. A bank that differs (another prompt) stops the next stage: each target
            carries the digest of the prompt it answered.
2. sft      the committed targets, 2 epochs at 5e-5
3. export   the LoRA to GGUF on the packaged base model, verified
4. check    conv-30 (validation) answered by the rebuilt adapter through the LoCoMo harness in the
            cited format it was trained in (MemoryConfig.preset("cited")), compared with the measured adapter's committed answers (``--reference``):
            the rebuild passes when its F1 is within ``--tolerance`` points of theirs. Training on a CPU
            is not bit-exact, so answers differ here and there.
5. install  a passed rebuild is copied to $EDGEMEM_HOME/adapters/ with its sha256; Memory.open() serves it
            by default on the 0.5B model from then on to cited answers (the plain default answers without
            it; adapters={} / --no-adapters turns it off).

Each stage is skipped when its output exists, so a stopped run continues. With both banks cached (the
harness and the data builder share them) the rebuild is SFT, export and 81 answers; on a fresh machine
building the two banks comes first and takes longest.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgemem.config import PRESETS
from edgemem.errors import InvalidInput
from edgemem.models import DEFAULT_MODEL, adapter_spec, edgemem_home, install_adapter

RECIPE = Path("experiments/answer-agent-current-prompts")
# the adapter answers in the cited format over the context it was trained on (MemoryConfig.preset("cited"))
CITED = [f"--{k.replace('_', '-')}={v}" for k, v in PRESETS["cited"].items()]


@dataclass
class AnswerAgentArgs:
    out: Path = Path("runs/answer-agent")
    targets: Path = RECIPE / "rft-answer-hybrid-run/targets.jsonl"  # the teacher's kept answers
    # the measured adapter's answers on conv-30 (the LoCoMo harness's predictions of system "trained")
    reference: Path = Path("benchmarks/results/answer-agent-conv30/predictions.jsonl")
    tolerance: float = 3.0  # F1 points the rebuild may differ from the reference on conv-30
    threads: int = 1  # llama.cpp threads (bank building, answers)
    train_threads: int = 1  # torch threads
    seed: int = 0
    data: Path | None = None  # the LoCoMo file (default $EDGEMEM_LOCOMO, else ../shared/data/locomo/locomo_dev.json)
    banks: Path | None = None  # bank cache (default $EDGEMEM_HOME/banks)


def step(name: str, done: bool, argv: list[str]) -> None:
    """Run one stage as its own process (each loads its own libraries and frees their memory)."""
    if done:
        print(f"[answer-agent] {name}: done before, skipped", flush=True)
        return
    print(f"[answer-agent] {name}: python {' '.join(argv)}", flush=True)
    subprocess.run([sys.executable, *argv], check=True)


def mean_f1(path: Path, system: str) -> tuple[float, dict[str, str]]:
    """Mean F1 (x100) of a harness predictions file's rows of ``system``, and their answers by question."""
    rows = [r for r in map(json.loads, path.read_text().splitlines()) if r["system"] == system]
    if not rows:
        raise InvalidInput(f"{path} holds no answers of system {system!r}. Fix: pass the predictions of a run of it.")
    return 100 * statistics.fmean(r["f1"] for r in rows), {
        f"{r['conversation']}/{r['qid']}": r["prediction"] for r in rows
    }


def compare(rebuilt: Path, reference: Path, tolerance: float) -> dict[str, Any]:
    """The rebuild's conv-30 answers against the shipped adapter's: F1 of each, identical answers."""
    f1_new, new = mean_f1(rebuilt, "trained")
    f1_ref, ref = mean_f1(reference, "trained")
    common = sorted(set(new) & set(ref))
    if len(common) < len(ref):
        raise InvalidInput(
            f"The rebuild answered {len(common)} of the reference's {len(ref)} questions. Fix: run the check "
            "on the same data (conv-30, all questions)."
        )
    result = {
        "f1_rebuilt": f1_new,
        "f1_reference": f1_ref,
        "difference": f1_new - f1_ref,
        "tolerance": tolerance,
        "identical_answers": sum(new[k] == ref[k] for k in common) / len(common),
        "questions": len(common),
    }
    result["passed"] = abs(result["difference"]) <= tolerance
    return result


def main(args: AnswerAgentArgs) -> dict[str, Any]:
    if not args.targets.exists():
        raise InvalidInput(f"No committed targets at {args.targets}. Fix: run from the repository root.")
    out = args.out
    data, sft, export = out / "data", out / "sft", out / "export"
    # one bank cache for both stages that build banks (the harness's own default is inside its --out)
    banks = args.banks or edgemem_home() / "banks"
    common = [*(["--data", str(args.data)] if args.data else []), "--banks", str(banks)]
    step(
        "data",
        (data / "answer_train.jsonl").exists(),
        ["-m", "training.data", "--agents", "answer", "--val", "conv-30", "--threads", str(args.threads), "--out",
         str(data), *common],
    )  # fmt: skip
    if not (sft / "targets.jsonl").exists():
        sft.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.targets, sft / "targets.jsonl")
    teacher = json.loads(args.targets.read_text().splitlines()[0])
    step(
        "sft",
        (sft / "adapter" / "adapter_config.json").exists(),
        ["-m", "training.sft", "--data", str(data), "--teacher", teacher["teacher"], "--samples",
         str(teacher["samples"]), "--answerable-only", "--epochs", "2", "--learning-rate", "5e-5",
         "--threads", str(args.train_threads), "--seed", str(args.seed), "--output-dir", str(sft)],
    )  # fmt: skip
    step(
        "export",
        (export / "manifest.json").exists(),
        ["-m", "export", "--adapter", str(sft / "adapter"), "--agent", "answer", "--lora-only",
         "--threads", str(args.threads), "--out", str(export)],
    )  # fmt: skip
    if not args.reference.exists():  # the first build of an adapter to ship: nothing to compare with yet
        print(
            f"[answer-agent] no reference answers at {args.reference}: the export {export / 'manifest.json'} is "
            "built but not checked. To ship it, answer conv-30 with it (benchmarks.locomo --systems trained "
            f"--manifest ...) into {args.reference.parent}."
        )
        return {"passed": None}
    check = out / "conv30"
    step(
        "check",
        (check / "predictions.jsonl").exists() and (check / "summary.json").exists(),
        ["-m", "benchmarks.locomo", "--conversations", "conv-30", "--systems", "trained", "--manifest",
         str(export / "manifest.json"), *CITED, "--threads", str(args.threads), "--out", str(check), *common],
    )  # fmt: skip
    result = compare(check / "predictions.jsonl", args.reference, args.tolerance)
    result["adapter"] = json.loads((export / "manifest.json").read_text())["adapters"]["answer"]
    (out / "check.json").write_text(json.dumps(result, indent=2))
    verdict = "PASSED" if result["passed"] else "FAILED"
    print(
        f"[answer-agent] {verdict}: conv-30 F1 {result['f1_rebuilt']:.1f} rebuilt, {result['f1_reference']:.1f} "
        f"shipped ({result['difference']:+.1f}, tolerance {args.tolerance}); "
        f"{100 * result['identical_answers']:.0f} % identical answers. Adapter: {export / 'manifest.json'}"
    )
    if not result["passed"]:
        raise SystemExit(1)
    # checked: install it where Memory.open() finds it (served by default on the model from now on)
    spec = adapter_spec(DEFAULT_MODEL, "answer")
    result["installed"] = str(install_adapter(spec, export / result["adapter"]["path"]))
    (out / "check.json").write_text(json.dumps(result, indent=2))
    print(f"[answer-agent] installed {result['installed']}: the default answer agent of {DEFAULT_MODEL}")
    return result


def cli(argv: list[str] | None = None) -> None:
    from training.settings import run_cli

    run_cli(AnswerAgentArgs, main, __doc__, argv)


if __name__ == "__main__":
    cli()
