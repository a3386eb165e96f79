"""Local LLM judges for the accuracy benchmarks.

A judge is a local GGUF model asked for {"label": "CORRECT"} or {"label": "WRONG"} (the reply is held to
that schema). It is NOT the judge of the papers (GPT-4o-mini for LoCoMo, GPT-4o for LongMemEval): its
numbers sit next to token F1, labelled as a local judge, and its agreement with hand labels is measured
(benchmarks.judge_agreement) before they are quoted.

LongMemEval's judge has a rule per question type (the benchmark's evaluate_qa.py; restated here):
  single-session-user, single-session-assistant, multi-session: right when the answer holds the correct
      answer, or is equivalent to it; holding only part of what the answer needs is wrong;
  temporal-reasoning: the same, and a count of days, weeks or months off by one is still right;
  knowledge-update: right when the answer gives the updated answer, even if it also names the old one;
  single-session-preference: the gold answer is a rubric of the reply the user wants; right when the
      answer recalls and uses the user's own information as the rubric says (not every point needed).
Abstention questions (ids ending _abs) are right when the answer says the history does not hold it. The
local 0.5B and 1.5B judges label those badly: on the hand-labelled sample they call every one WRONG, the
right "Not mentioned." answers included (benchmarks/results/longmemeval-judge-agreement.json), so
lme_label scores them with the harness's deterministic rule (benchmarks.scoring.abstained) instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchmarks.scoring import abstained
from edgemem.errors import InvalidInput

LABEL_SCHEMA = {"type": "object", "properties": {"label": {"enum": ["CORRECT", "WRONG"]}}, "required": ["label"]}

LOCOMO_PROMPT = """Your task is to label an answer to a question as 'CORRECT' or 'WRONG'. You will be given
a question, a 'gold' (ground truth) answer and a generated answer. Be generous: if the generated answer
touches on the same topic as the gold answer, or refers to the same date or time period (in any
format), it is CORRECT.

Question: {question}
Gold answer: {gold}
Generated answer: {pred}

Return JSON: {{"label": "CORRECT"}} or {{"label": "WRONG"}}"""

_CONTAINS = (
    "It is CORRECT when the generated answer contains the correct answer or is equivalent to it (another "
    "wording, another format of the same name, number or date). It is WRONG when it gives something else, "
    "or only part of what the correct answer needs."
)
LME_RULES = {
    "single-session-user": _CONTAINS,
    "single-session-assistant": _CONTAINS,
    "multi-session": _CONTAINS,
    "temporal-reasoning": _CONTAINS
    + " A count of days, weeks or months that is off by one (19 days for 18) is still CORRECT.",
    "knowledge-update": _CONTAINS
    + " The information changed over time: an answer that also mentions the earlier value is CORRECT as long"
    " as the updated value is the answer it gives.",
    "single-session-preference": (
        "The correct answer is a rubric: what a reply that fits this user would do. The generated answer is "
        "CORRECT when it recalls and uses the user's own information as the rubric describes (it need not "
        "cover every point). A generic reply, or one that ignores what the user said before, is WRONG."
    ),
}
# What LongMemEval's judge is told for an abstention question. The harness does not score with it (see the
# module docstring); benchmarks.judge_agreement still measures it, which is how that was decided.
LME_ABSTENTION_RULE = (
    "The question cannot be answered from the user's history; the explanation says why. The generated answer "
    "is CORRECT when it says the information is not available (not mentioned, unknown, not enough "
    "information, or only something else was said). It is WRONG when it gives an answer."
)
LME_PROMPT = """Your task is to label an answer to a question about a user's earlier chats as 'CORRECT' or 'WRONG'.
{rule}

Question: {question}
{gold_name}: {gold}
Generated answer: {pred}

Return JSON: {{"label": "CORRECT"}} or {{"label": "WRONG"}}"""


def lme_prompt(qtype: str, question: str, gold: str, pred: str, abstention: bool = False) -> str:
    """The judge prompt for one LongMemEval answer, with its question type's rule."""
    if abstention:
        rule, gold_name = LME_ABSTENTION_RULE, "Explanation"
    elif qtype in LME_RULES:
        rule, gold_name = LME_RULES[qtype], "Rubric" if qtype == "single-session-preference" else "Correct answer"
    else:
        raise ValueError(f"no judging rule for question type {qtype!r}; one of {', '.join(LME_RULES)}")
    return LME_PROMPT.format(rule=rule, question=question, gold_name=gold_name, gold=gold, pred=pred)


def judge_engine(name: str, threads: int, loaded: tuple[Path, Any] | None = None) -> tuple[Path, Any]:
    """The judge model ``name`` (a registry name or a .gguf path) and its engine. ``loaded``: the (path,
    engine) a harness already answers with; when the judge is the same file, that engine judges too (judge
    prompts use no adapter), so the model is not loaded into RAM a second time."""
    from edgemem.engine import LlamaEngine
    from edgemem.models import resolve_model

    path = resolve_model(name)
    if loaded is not None and loaded[0] == path:
        return loaded
    return path, LlamaEngine(path, n_ctx=2048, threads=threads)


def label(judge: Any, prompt: str) -> int:
    """1 when the judge says CORRECT, else 0."""
    c = judge.complete([{"role": "user", "content": prompt}], schema=LABEL_SCHEMA, max_tokens=16)
    return int("CORRECT" in c.text)


def locomo_label(judge: Any, question: str, gold: str, pred: str) -> int:
    return label(judge, LOCOMO_PROMPT.format(question=question, gold=gold, pred=pred))


def lme_label(judge: Any, qtype: str, question: str, gold: str, pred: str, abstention: bool) -> int:
    """1 when a LongMemEval answer is right: by the judge, or for an abstention question by the rule
    (no model call)."""
    if abstention:
        return int(abstained(pred))
    return label(judge, lme_prompt(qtype, question, gold, pred))


def agreement(hand: list[int], judged: list[int]) -> dict[str, Any]:
    """How far a judge's labels agree with hand labels: the share that match, Cohen's kappa (agreement
    beyond what two raters with these label shares would reach by chance) and the confusion counts.

    >>> agreement([1, 1, 0, 0], [1, 0, 0, 0])["agreement"], agreement([1, 1, 0, 0], [1, 0, 0, 0])["kappa"]
    (0.75, 0.5)
    """
    if len(hand) != len(judged) or not hand:
        raise ValueError(f"need as many judged labels as hand labels, and some: {len(hand)} vs {len(judged)}")
    n = len(hand)
    observed = sum(h == j for h, j in zip(hand, judged, strict=True)) / n
    p_hand, p_judged = sum(hand) / n, sum(judged) / n
    chance = p_hand * p_judged + (1 - p_hand) * (1 - p_judged)
    return {
        "n": n,
        "agreement": observed,
        "kappa": (observed - chance) / (1 - chance) if chance < 1 else 1.0,
        "correct_by_hand": sum(hand),
        "correct_by_judge": sum(judged),
        "judge_too_generous": sum(j and not h for h, j in zip(hand, judged, strict=True)),
        "judge_too_strict": sum(h and not j for h, j in zip(hand, judged, strict=True)),
    }


def read_labels(path: Path) -> dict[tuple[str, str], int]:
    """Hand labels: a TSV of system, question_id, label (1 right, 0 wrong) and a note, with a header.

    Raises:
        InvalidInput: a line without three fields or with a label other than 0 or 1 (file and line named).
    """
    out = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines()[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) < 3:
            raise InvalidInput(
                f"{path}:{n}: {len(fields)} tab-separated field(s) in {line!r}. Fix: system, question_id, "
                "label and a note, separated by tabs."
            )
        system, qid, value = fields[:3]
        if value not in ("0", "1"):
            raise InvalidInput(f"{path}:{n}: label {value!r}. Fix: 1 (right) or 0 (wrong).")
        out[(system, qid)] = int(value)
    return out
