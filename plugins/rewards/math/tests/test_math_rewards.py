"""accuracy and cosine: conformance, answer checking, length shaping."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tunekite.api import ArgumentError
from tunekite.testing import RewardConformance
from tunekite_math_rewards.plugin import CosineArguments
from tunekite_math_rewards.rewards import build_accuracy, build_cosine

SOLUTIONS = {"solution": ["4", "4", "4", "4"]}


class TestAccuracyConformance(RewardConformance):
    name = "accuracy"
    completions: ClassVar[list[str]] = ["The answer is \\boxed{4}.", "", "4 4 4 4 4 4 4 4", "I don't know"]
    columns = SOLUTIONS


class TestCosineConformance(RewardConformance):
    name = "cosine"
    columns = SOLUTIONS


def test_accuracy_checks_the_boxed_answer() -> None:
    reward = build_accuracy()
    completions = [
        "\\boxed{4}",
        "so 2 + 2 = \\boxed{5}",
        "The final answer is $\\frac{8}{2}$",
        "no answer",
        "\\boxed{4.0}",
    ]
    assert reward(completions, solution=["4"] * 5) == [1.0, 0.0, 1.0, 0.0, 1.0]


def test_accuracy_compares_expressions_not_strings() -> None:
    reward = build_accuracy()
    completions = ["\\boxed{\\frac{1}{2}}", "\\boxed{0.5}", "\\boxed{-3}"]
    assert reward(completions, solution=["0.5", "1/2", "-3"]) == [1.0, 1.0, 1.0]


def test_accuracy_without_a_solution_column_is_a_clear_error() -> None:
    with pytest.raises(ArgumentError, match="solution"):
        build_accuracy()(["\\boxed{4}"])


def test_cosine_prefers_short_correct_and_long_wrong() -> None:
    reward = build_cosine(CosineArguments(cosine_max_len=100))
    ids = [[0] * n for n in (0, 25, 50, 100, 200)]
    right = reward(["\\boxed{4}"] * 5, solution=["4"] * 5, completion_ids=ids)
    wrong = reward(["\\boxed{5}"] * 5, solution=["4"] * 5, completion_ids=ids)
    assert right == sorted(right, reverse=True) and right[0] == pytest.approx(1.0)
    assert right[3] == pytest.approx(0.5) and right[4] == right[3]  # beyond max_len: the end value
    assert wrong == sorted(wrong, reverse=True) and wrong[0] == pytest.approx(0.0)
    assert wrong[3] == pytest.approx(-0.5)
    assert min(right) > max(wrong)


def test_cosine_max_len_defaults_to_the_trainers_max_completion_length() -> None:
    reward = build_cosine(CosineArguments())
    ids = [[0] * 64]
    assert reward(["\\boxed{4}"], solution=["4"], completion_ids=ids, max_completion_length=64) == [
        pytest.approx(0.5)
    ]


def test_cosine_counts_words_without_token_ids() -> None:
    reward = build_cosine(CosineArguments(cosine_max_len=4))
    assert reward(["so it is \\boxed{4}"], solution=["4"]) == [pytest.approx(0.5)]
