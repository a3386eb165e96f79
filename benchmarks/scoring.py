"""Scores of one prediction as the Memory-R1 / A-Mem evaluation defines them.

F1 and exact match come from ``edgemem.metrics`` (the same functions the RL rewards use). BLEU-1 is
NLTK's sentence_bleu with weights (1, 0, 0, 0) and smoothing method1 on the lowercased strings,
tokenized by NLTK's word tokenizer. ``nltk.word_tokenize`` first splits sentences with the punkt
model, whose data must be downloaded; we call the same word tokenizer (NLTKWordTokenizer) directly,
which is identical for one-sentence answers.
"""

from __future__ import annotations

import re

from edgemem.metrics import exact_match, f1

# LoCoMo's numeric categories and the two naming conventions found in papers.
CATEGORY_LOCOMO = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
CATEGORY_MEM0 = {1: "Single Hop", 2: "Temporal", 3: "Multi-Hop", 4: "Open Domain"}  # Mem0 / Memory-R1 tables


def bleu1(prediction: str, gold: str) -> float:
    """BLEU-1 of ``prediction`` against ``gold`` (smoothed, NLTK's word tokens).

    >>> round(bleu1("May 7, 2023", "7 May 2023"), 2)
    0.75
    """
    from nltk.tokenize import NLTKWordTokenizer
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    tok = NLTKWordTokenizer()
    pred, ref = tok.tokenize(str(prediction).lower()), tok.tokenize(str(gold).lower())
    if not pred or not ref:
        return 0.0
    return float(sentence_bleu([ref], pred, weights=(1, 0, 0, 0), smoothing_function=SmoothingFunction().method1))


def score(prediction: str, gold: str) -> dict[str, float]:
    return {"f1": f1(prediction, gold), "bleu1": bleu1(prediction, gold), "em": exact_match(prediction, gold)}


def paired_delta(ours: list[float], base: list[float], reps: int = 2000, seed: int = 0) -> dict[str, float]:
    """Paired comparison of two systems on the same questions (scores in question order, 0..1):
    mean difference ×100, a 95 % bootstrap interval over questions (fixed seed: reproducible), and how
    many questions got better, worse or changed at all. Small gains on 30–80 questions are often
    inside the interval; this says so instead of a bare difference of means.
    """
    import random

    if len(ours) != len(base) or not ours:
        raise ValueError(
            f"paired_delta needs two equally long, non-empty score lists (got {len(ours)} and {len(base)})"
        )
    diffs = [a - b for a, b in zip(ours, base, strict=True)]
    n = len(diffs)
    rng = random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(n)] for _ in range(n)) / n for _ in range(reps))
    return {
        "n": n,
        "delta": 100 * sum(diffs) / n,
        "ci95_low": 100 * means[int(0.025 * reps)],
        "ci95_high": 100 * means[min(reps - 1, int(0.975 * reps))],
        "better": sum(d > 0 for d in diffs),
        "worse": sum(d < 0 for d in diffs),
    }


# An answer that says the history does not hold it (the right answer to an abstention question).
ABSTAINED = re.compile(
    r"\b(not mentioned|not (?:stated|specified|provided|available|known|say)|no (?:information|mention|record)|"
    r"(?:do not|don't|cannot|can't) (?:know|say|tell)|unknown|never mentioned)\b",
    re.IGNORECASE,
)


def abstained(answer: str) -> bool:
    """Whether an answer says the information is not in the history.

    >>> abstained("Not mentioned"), abstained("You did not mention this"), abstained("Rome")
    (True, False, False)
    """
    return bool(ABSTAINED.search(answer))
