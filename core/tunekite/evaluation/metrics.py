"""The metrics core reports: ROUGE-L and BLEU-4 of a reply against its reference,
exact match, and math answers checked by math-verify.

ms-swift computes `rouge-l` with `rouge` over jieba tokens and `bleu-4` with nltk's
`sentence_bleu` (method1 smoothing); we use Google's `rouge-score` (the reference
implementation, whitespace/regex tokens, no stemming) and the same nltk call, so the
figures are those of the libraries, not of a re-implementation. Both are imported when a
metric is computed, never when `tk` starts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

METRICS = ("acc", "rouge")
"""`--metric` values: `acc` (exact match of the reply to the reference), `rouge` (ROUGE-L
and BLEU-4, ms-swift's `rouge-l`/`bleu-4`)."""

_MISSING = "{what} needs the `{package}` package: pip install 'tunekite[eval]'"


def _tokens(text: str) -> list[str]:
    """Words and single punctuation marks, lower-cased: what BLEU counts."""
    return re.findall(r"\w+|[^\w\s]", text.lower())


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure (longest common subsequence) from `rouge-score`."""
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        raise ImportError(_MISSING.format(what="ROUGE-L", package="rouge-score")) from None
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return float(scorer.score(reference, prediction)["rougeL"].fmeasure)


def bleu_4(prediction: str, reference: str) -> float:
    """Sentence BLEU-4 from nltk with method-1 smoothing (ms-swift's `bleu-4`)."""
    try:
        from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
    except ImportError:
        raise ImportError(_MISSING.format(what="BLEU-4", package="nltk")) from None
    hypothesis, references = _tokens(prediction), [_tokens(reference)]
    if not hypothesis or not references[0]:
        return 0.0
    return float(sentence_bleu(references, hypothesis, smoothing_function=SmoothingFunction().method1))


def normalize(text: str) -> str:
    """Case, surrounding punctuation and runs of whitespace removed: what exact match compares."""
    return " ".join(text.strip().strip(".!?。").lower().split())


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the normalized reply equals the normalized reference."""
    return float(normalize(prediction) == normalize(reference))


def math_verified(prediction: str, solution: str) -> float:
    """1.0 when the reply's first LaTeX or \\boxed{} answer equals `solution` by math-verify
    (the `accuracy` reward's checker); an unparsable solution scores 0."""
    try:
        from math_verify import LatexExtractionConfig, parse, verify
    except ImportError:
        raise ImportError(_MISSING.format(what="math scoring", package="math-verify")) from None
    gold = parse(solution, extraction_mode="first_match")
    if not gold:
        return 0.0
    config = [LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=False)]
    answer = parse(prediction, extraction_config=config, extraction_mode="first_match")
    return float(bool(answer) and verify(gold, answer))


def text_scores(metric: str, predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Mean scores of replies against references for `--metric`: `{"acc": ...}` or
    `{"rouge-l": ..., "bleu-4": ...}` (ms-swift's keys), each in [0, 1]."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return {}
    pairs = list(zip(predictions, references, strict=True))
    if metric == "acc":
        return {"acc": mean(exact_match(p, r) for p, r in pairs)}
    return {
        "rouge-l": mean(rouge_l(p, r) for p, r in pairs),
        "bleu-4": mean(bleu_4(p, r) for p, r in pairs),
    }


def mean(values: Any) -> float:
    values = list(values)
    return sum(values) / len(values) if values else 0.0
