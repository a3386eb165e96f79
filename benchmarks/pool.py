"""Pool the predictions of several LoCoMo runs into one paired summary.

    python -m benchmarks.pool runs/X-conv30-6sessions runs/X-devtest-3sessions --out runs/X-pooled

Why: a run on 32 or 33 questions moves by ~3 F1 per answer, so its bootstrap interval is wide. Runs on
*different* conversations (or different sessions of them) answered by the same systems under the same
settings can be pooled: the trained-vs-untrained pairing then has twice the questions.

Rules (each refused with the fix): a question (system, conversation, question number) may come from one
run only — pooling two runs of the same conversation would count its questions twice; a system's
settings (model, manifest, k, judge ...) must be the same in every run, except ``max_sessions`` and
``data``, which name which questions a run asked. Writes ``predictions.jsonl`` (the pooled rows),
``summary.json`` (scores per category, pairings, the runs pooled) and ``summary.md``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from benchmarks.locomo import markdown, summarize
from benchmarks.scoring import paired_delta
from edgemem.errors import InvalidInput

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
PER_RUN = ("max_sessions", "data")  # settings that say which questions a run asked, not how it answered


def run_dir(name: str, root: Path = EXPERIMENTS) -> Path:
    """The committed run folder ``name`` inside whichever experiment holds it (``experiments/*/name``), so
    an analysis script names runs, not where they sit. A run that is not committed gives a path that
    does not exist (scripts skip what was not run)."""
    found = sorted(root.glob(f"*/{name}"))
    if len(found) > 1:
        raise InvalidInput(f"Run {name!r} is in several experiments: {[str(f) for f in found]}. Fix: rename one.")
    return found[0] if found else root / "(not committed)" / name


def question_rows(runs: list[Path], system: str) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows of ``system`` in ``runs`` by (conversation, question number): the one predictions reader
    of the analysis scripts."""
    return {(r["conversation"], r["qid"]): r for r in pool_rows(runs, [system])}


def pool_rows(runs: list[Path], systems: list[str]) -> list[dict[str, Any]]:
    """The rows of ``systems`` from every run's predictions.jsonl, checked for double counting and
    for settings that differ between runs."""
    rows: list[dict[str, Any]] = []
    seen: dict[tuple[str, str, int], Path] = {}
    settings: dict[str, tuple[Path, dict[str, Any]]] = {}
    for run in runs:
        pred = run / "predictions.jsonl"
        if not pred.exists():
            raise InvalidInput(
                f"{run} has no predictions.jsonl. Fix: pass the --out folder of a benchmarks.locomo run."
            )
        known = json.loads((run / "settings.json").read_text()) if (run / "settings.json").exists() else {}
        for system in systems:
            if system not in known:
                continue
            mine = {k: v for k, v in known[system].items() if k not in PER_RUN}
            if system in settings and settings[system][1] != mine:
                other, theirs = settings[system]
                keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
                raise InvalidInput(
                    f"'{system}' was run with other settings in {run} than in {other} ({', '.join(keys)} differ). "
                    "Fix: pool runs of the same systems under the same settings."
                )
            settings.setdefault(system, (run, mine))
        for line in pred.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if r["system"] not in systems:
                continue
            key = (r["system"], r["conversation"], r["qid"])
            if key in seen:
                raise InvalidInput(
                    f"{r['system']} question {r['qid']} of {r['conversation']} is in both {seen[key]} and {run}. "
                    "Fix: pool runs over different conversations (its questions would count twice)."
                )
            seen[key] = run
            rows.append(r)
    missing = [s for s in systems if not any(r["system"] == s for r in rows)]
    if missing:
        raise InvalidInput(f"No run holds rows of {', '.join(missing)}. Fix: pass --systems the runs answered.")
    return rows


def _scores(runs: list[Path], system: str) -> dict[tuple[str, int], float]:
    """(conversation, question number) -> F1 of ``system`` in ``runs`` (pooled by :func:`pool_rows`)."""
    return {(r["conversation"], r["qid"]): r["f1"] for r in pool_rows(runs, [system])}


def _same_questions(a: dict[Any, float], b: dict[Any, float], what_a: str, what_b: str) -> list[Any]:
    if set(a) != set(b):
        only = sorted(set(a) ^ set(b))[:3]
        raise InvalidInput(
            f"{what_a} and {what_b} answered different questions (e.g. {only}). "
            "Fix: compare runs over the same conversations and sessions."
        )
    return sorted(a)


def ingest_cost(run: Path, label: str = "edgemem/conv-30") -> dict[str, Any]:
    """The model work per consolidated message of one run's bank (``summary.json``'s ingest record), for
    experiments that compare how banks were built."""
    record = json.loads((run / "summary.json").read_text())["ingest"][label]
    n = record["turns"]
    return {
        "messages": n,
        "llm_calls_per_message": record["llm_calls"] / n,
        "prompt_tokens_per_message": record["prompt_tokens"] / n,
        "generated_tokens_per_message": record["completion_tokens"] / n,
        "seconds_per_message_p50": record["turn_p50_s"],
        "seconds_per_message_mean": record["seconds_now"] / n,
        # seconds inside model calls (extraction + manager), in runs that record it
        **({"model_seconds_per_message": record["model_s"] / n} if "model_s" in record else {}),
        "memories": record["memories"],
        "operations": record["operations"],
    }


def compare_banks(new: Path, old: Path, system: str = "edgemem") -> dict[str, Any]:
    """Two runs whose banks were built two ways, answered the same way: paired F1 of ``new`` against
    ``old``, how many answers changed, and each bank's model work per message with the ratios new / old."""
    cost_new, cost_old = ingest_cost(new), ingest_cost(old)
    after, before = question_rows([new], system), question_rows([old], system)
    ratio = {
        f"{key}, new / old": cost_new[key] / cost_old[key]
        for key in (
            "llm_calls_per_message",
            "generated_tokens_per_message",
            "prompt_tokens_per_message",
            "seconds_per_message_mean",
        )
    }
    return {
        "new": new.name,
        "old": old.name,
        "all questions": compare_runs([new], [old], system, system),
        "changed answers": sum(after[q]["prediction"] != before[q]["prediction"] for q in before),
        "ingest new": cost_new,
        "ingest old": cost_old,
        **ratio,
    }


def compare_runs(
    new: list[Path], old: list[Path], new_system: str = "trained", old_system: str = "trained"
) -> dict[str, Any]:
    """``new_system`` in the runs ``new`` against ``old_system`` in the runs ``old``, paired on the same
    questions (each side pooled by :func:`pool_rows`). Why: a trained manager's effect is its bank
    against another manager's bank with the *same* answer agent, and those answers come from two runs.
    """
    a, b = _scores(new, new_system), _scores(old, old_system)
    qids = _same_questions(
        a, b, f"{new_system} in {', '.join(map(str, new))}", f"{old_system} in {', '.join(map(str, old))}"
    )
    return paired_delta([a[q] for q in qids], [b[q] for q in qids])


def compare_seeds(
    seeds: dict[int, list[Path]], base: list[Path], system: str = "trained", base_system: str = "edgemem"
) -> dict[str, Any]:
    """Several training seeds of one recipe (``system`` in each seed's runs) against ``base_system`` in
    ``base``, on the same questions: each seed's paired difference, the mean of those differences, and
    the seed-mean system (each question's F1 averaged over the seeds) against the base. Why the last:
    its interval is over questions with the seed-to-seed noise averaged out, the gain of the recipe
    rather than of one lucky or unlucky seed."""
    if not seeds:
        raise InvalidInput("compare_seeds got no seed runs. Fix: pass {seed: [run folders]} for at least one seed.")
    b = _scores(base, base_system)
    per_seed = {seed: _scores(runs, system) for seed, runs in sorted(seeds.items())}
    what_b = f"{base_system} in {', '.join(map(str, base))}"
    for seed, a in per_seed.items():
        _same_questions(a, b, f"seed {seed}'s {system} in {', '.join(map(str, seeds[seed]))}", what_b)
    qids = sorted(b)
    out: dict[str, Any] = {
        f"seed {seed}": paired_delta([a[q] for q in qids], [b[q] for q in qids]) for seed, a in per_seed.items()
    }
    out["seeds"] = sorted(per_seed)
    out["mean of the seeds' deltas"] = sum(out[f"seed {seed}"]["delta"] for seed in per_seed) / len(per_seed)
    seed_mean = [sum(a[q] for a in per_seed.values()) / len(per_seed) for q in qids]
    out[f"seed-mean system vs {base_system}"] = paired_delta(seed_mean, [b[q] for q in qids])
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pool", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path, help="--out folders of benchmarks.locomo runs")
    p.add_argument("--out", type=Path, required=True, help="folder for the pooled predictions and summary")
    p.add_argument("--systems", default="edgemem,trained", help="comma list of the systems to pool")
    p.add_argument(
        "--base",
        default="edgemem",
        help="the system the others are paired with (default: the untrained pipeline, paired with its variants; "
        "another, e.g. rag, is paired with every system)",
    )
    args = p.parse_args(argv)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.base not in systems:
        raise SystemExit(f"Error: --base {args.base} is not among --systems {args.systems}. Fix: add it to --systems.")
    try:
        rows = pool_rows(args.runs, systems)
    except InvalidInput as e:
        raise SystemExit(f"Error: {e}") from e
    args.out.mkdir(parents=True, exist_ok=True)
    pred = args.out / "predictions.jsonl"
    pred.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    conversations = sorted({r["conversation"] for r in rows})
    summary = {**summarize(pred, systems, conversations, args.base), "runs": [str(r) for r in args.runs]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    (args.out / "summary.md").write_text(
        f"Pooled from {', '.join(str(r) for r in args.runs)} by `python -m benchmarks.pool`.\n\n" + markdown(summary)
    )
    print((args.out / "summary.md").read_text())
    return summary


if __name__ == "__main__":
    main()
