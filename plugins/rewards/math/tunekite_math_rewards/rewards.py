"""The reward functions, as ms-swift's `swift/plugin/orm.py` defines them.

Each takes the completions plus the dataset's extra columns (GRPO repeats a prompt's
columns for each of its completions) and returns one float per completion. The GRPO
trainer also passes `completion_ids` (token ids) and `max_completion_length`; lengths
are counted in those tokens when given, else in whitespace-separated words.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tunekite.api import ArgumentError, math_verified

DEFAULT_MAX_LEN = 512  # the reference's max_completion_length


def _solutions(solution: Sequence[Any] | None, n: int, reward: str) -> list[str]:
    if solution is None:
        raise ArgumentError(
            f"the {reward} reward needs a `solution` column in the dataset (the reference answer of each "
            "prompt, e.g. '42'); rename yours with --columns '{\"answer\": \"solution\"}'"
        )
    if len(solution) != n:
        raise ValueError(f"the {reward} reward got {n} completions but {len(solution)} solutions")
    return ["" if s is None else str(s) for s in solution]


def _accuracy(completions: Sequence[str], solutions: Sequence[str]) -> list[float]:
    """1.0 when the completion's first LaTeX/boxed answer verifies against the solution
    (core's `math_verified`, the checker `tk run eval` scores math with); an unparsable
    solution scores 0 (nothing to check against)."""
    return [math_verified(c, s) for c, s in zip(completions, solutions, strict=True)]


def build_accuracy(args: None = None) -> Callable[..., list[float]]:
    def accuracy(
        completions: list[str], solution: Sequence[Any] | None = None, **columns: Any
    ) -> list[float]:
        return _accuracy(completions, _solutions(solution, len(completions), "accuracy"))

    return accuracy


def lengths(completions: Sequence[str], completion_ids: Sequence[Sequence[int]] | None) -> list[int]:
    """Token counts when the trainer gave the ids, else word counts."""
    if completion_ids is not None and len(completion_ids) == len(completions):
        return [len(ids) for ids in completion_ids]
    return [len(c.split()) for c in completions]


def cosine_value(length: int, max_len: int, at_zero: float, at_max: float) -> float:
    """`at_zero` at length 0 easing to `at_max` at `max_len` (and beyond) along half a cosine."""
    t = min(length, max_len)
    return at_max + (at_zero - at_max) * (1 + math.cos(t * math.pi / max_len)) / 2


def build_cosine(args: Any) -> Callable[..., list[float]]:
    def cosine(
        completions: list[str],
        solution: Sequence[Any] | None = None,
        completion_ids: Sequence[Sequence[int]] | None = None,
        max_completion_length: int | None = None,
        **columns: Any,
    ) -> list[float]:
        max_len = args.cosine_max_len or max_completion_length or DEFAULT_MAX_LEN
        correct = _accuracy(completions, _solutions(solution, len(completions), "cosine"))
        rewards = []
        for ok, length in zip(correct, lengths(completions, completion_ids), strict=True):
            if ok >= 1.0:
                at_zero, at_max = args.cosine_min_len_value_correct, args.cosine_max_len_value_correct
            else:
                at_zero, at_max = args.cosine_min_len_value_wrong, args.cosine_max_len_value_wrong
            rewards.append(float(cosine_value(length, max_len, at_zero, at_max)))
        return rewards

    return cosine
