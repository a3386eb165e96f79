"""How far each local judge agrees with hand labels of LongMemEval answers.

    python -m benchmarks.judge_agreement --data ../shared/data/longmemeval/oracle_dev.json \\
        --predictions benchmarks/results/longmemeval-oracle-sample10/predictions.jsonl \\
        --labels benchmarks/data/longmemeval_judge_labels.tsv \\
        --judge qwen2.5-coder-0.5b,qwen2.5-coder-1.5b --out runs/judge-agreement.json

Per judge it reports four views of the labelled answers: the answerable questions (the judge with its
question type's rule), the abstention questions as the harness scores them (the deterministic rule,
benchmarks.scoring.abstained), the abstention questions labelled by the judge with LongMemEval's abstention
rule (measured, not used), and the whole set as the harness scores it. Agreement is the share of labels
that match; kappa is Cohen's (agreement beyond chance). The hand labels were written by reading each
answer against the gold answer; they are one rater's, on 40 answers: a judge tuned on them is in-sample.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.judge import agreement, judge_engine, label, lme_label, lme_prompt, read_labels
from benchmarks.longmemeval import load
from benchmarks.scoring import abstained, exact_match
from edgemem.errors import InvalidInput
from edgemem.machine import machine_info


def main(argv: list[str] | None = None, engines: dict[str, Any] | None = None) -> dict[str, Any]:
    from edgemem.models import sha256_file

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, required=True, help="the LongMemEval file the predictions answer")
    p.add_argument("--predictions", type=Path, required=True, help="a run's predictions.jsonl")
    p.add_argument("--labels", type=Path, required=True, help="hand labels (TSV: system, question_id, label, note)")
    p.add_argument("--judge", default="qwen2.5-coder-0.5b", help="comma list of registry names or .gguf paths")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="where to write the agreement (JSON)")
    args = p.parse_args(argv)
    questions = {q.id: q for q in load(args.data)}
    try:
        hand = read_labels(args.labels)
    except InvalidInput as e:
        raise SystemExit(f"Error: {e}") from None
    rows = {(r["system"], r["question_id"]): r for r in map(json.loads, args.predictions.read_text().splitlines())}
    missing = sorted(set(hand) - set(rows))
    if missing:
        raise SystemExit(f"{len(missing)} labelled answers are not in {args.predictions}, e.g. {missing[0]}.")
    unknown = sorted({qid for _, qid in hand} - set(questions))
    if unknown:
        raise SystemExit(f"{len(unknown)} labelled questions are not in {args.data}, e.g. {unknown[0]}.")
    keys = sorted(hand)
    answerable = [k for k in keys if not questions[k[1]].abstention]
    abstention = [k for k in keys if questions[k[1]].abstention]

    def part(ks: list[tuple[str, str]], got: dict[tuple[str, str], int]) -> dict[str, Any] | None:
        return agreement([hand[k] for k in ks], [got[k] for k in ks]) if ks else None

    rule = {k: int(abstained(rows[k]["prediction"])) for k in abstention}
    # what a judge must beat: the token metrics as labels (right = exact match)
    em = {k: int(exact_match(rows[k]["prediction"], questions[k[1]].answer) > 0) for k in answerable}
    result: dict[str, Any] = {
        "labels": str(args.labels),
        "predictions": str(args.predictions),
        "abstention_rule": part(abstention, rule),
        "answerable_exact_match": part(answerable, em),
        "judges": {},
    }
    for name in [x for x in args.judge.split(",") if x]:
        engine, path = (engines or {}).get(name), None
        if engine is None:
            path, engine = judge_engine(name, args.threads)
        t0 = time.perf_counter()
        scored, judged_abstention = {}, {}
        for k in keys:
            q, pred = questions[k[1]], rows[k]["prediction"]
            scored[k] = lme_label(engine, q.type, q.question, q.answer, pred, q.abstention)
            if q.abstention:
                judged_abstention[k] = label(engine, lme_prompt(q.type, q.question, q.answer, pred, abstention=True))
        entry: dict[str, Any] = {
            "as_scored": part(keys, scored),
            "answerable": part(answerable, scored),
            "abstention_by_judge": part(abstention, judged_abstention),
            "seconds": time.perf_counter() - t0,
            "sha256": sha256_file(path) if path else None,
            "disagreements": [
                {"system": s, "question_id": qid, "hand": hand[(s, qid)], "scored": scored[(s, qid)]}
                for s, qid in keys
                if hand[(s, qid)] != scored[(s, qid)]
            ],
        }
        result["judges"][name] = entry
        a, b = entry["as_scored"], entry["abstention_by_judge"]
        print(
            f"{name}: as scored, agreement {a['agreement']:.2f}, kappa {a['kappa']:.2f} on {a['n']} answers "
            f"({a['judge_too_generous']} too generous, {a['judge_too_strict']} too strict)"
            + (f"; judging abstention itself, agreement {b['agreement']:.2f}" if b else ""),
            file=sys.stderr,
        )
    result["machine"] = machine_info()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
