"""format, repetition and soft_overlong: conformance and the scores they give."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tunekite.api import ArgumentError
from tunekite.testing import RewardConformance
from tunekite_text_rewards.plugin import RepetitionArguments, SoftOverlongArguments
from tunekite_text_rewards.rewards import build_format, build_repetition, build_soft_overlong


class TestFormatConformance(RewardConformance):
    name = "format"


class TestRepetitionConformance(RewardConformance):
    name = "repetition"


class TestSoftOverlongConformance(RewardConformance):
    name = "soft_overlong"
    arg_overrides: ClassVar[dict] = {"soft_cache_length": 4, "soft_max_length": 8}


def test_format_wants_think_then_answer_and_nothing_after() -> None:
    reward = build_format()
    completions = [
        "<think>2 + 2</think><answer>4</answer>",
        "<think>\nadd them\n</think>\n<answer>\n4\n</answer>",
        "<answer>4</answer>",
        "<think>2 + 2</think><answer>4</answer> trailing words",
        "The answer is 4.",
        "",
    ]
    assert reward(completions) == [1.0, 1.0, 0.0, 0.0, 0.0, 0.0]


def test_repetition_penalises_repeated_ngrams() -> None:
    reward = build_repetition(RepetitionArguments())
    fresh, some, looped = reward(
        [
            "one two three four five six",
            "the cat sat on the cat sat on the mat",
            "go go go go go go go go go go",
        ]
    )
    assert fresh == 0.0
    assert -1.0 < looped < some < 0.0
    assert looped == pytest.approx(-(1 - 1 / 8))
    assert reward(["short text"]) == [0.0]  # fewer words than one n-gram


def test_repetition_max_penalty_scales_the_penalty() -> None:
    half = build_repetition(RepetitionArguments(repetition_max_penalty=-0.5))
    full = build_repetition(RepetitionArguments())
    text = ["a b a b a b a b"]
    assert half(text)[0] == pytest.approx(full(text)[0] / 2)
    with pytest.raises(ArgumentError, match="repetition_max_penalty"):
        build_repetition(RepetitionArguments(repetition_max_penalty=1.0))


def test_soft_overlong_ramps_over_the_cache() -> None:
    reward = build_soft_overlong(SoftOverlongArguments(soft_max_length=100, soft_cache_length=20))
    ids = [[0] * n for n in (10, 80, 90, 100, 130)]
    assert reward([""] * 5, completion_ids=ids) == [0.0, 0.0, pytest.approx(-0.5), -1.0, -1.0]


def test_soft_overlong_defaults_to_max_completion_length_and_needs_a_cache() -> None:
    reward = build_soft_overlong(SoftOverlongArguments(soft_cache_length=10))
    assert reward(["x"], completion_ids=[[0] * 59], max_completion_length=64) == [pytest.approx(-0.5)]
    with pytest.raises(ArgumentError, match="soft_cache_length"):
        build_soft_overlong(SoftOverlongArguments())
