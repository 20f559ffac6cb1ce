"""The reward functions. Each takes the completions (plus dataset columns, ignored here)
and returns one float per completion. The GRPO trainer also passes `completion_ids` and
`max_completion_length`; soft_overlong counts tokens in those ids when given, else
whitespace-separated words."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from tunekite.api import ArgumentError

_FORMAT = re.compile(r"^<think>.*?</think>\s*<answer>.*?</answer>(?![\s\S])", re.DOTALL | re.MULTILINE)
DEFAULT_MAX_LEN = 512  # the reference's max_completion_length


def build_format(args: None = None) -> Callable[..., list[float]]:
    def format(completions: list[str], **columns: Any) -> list[float]:
        return [1.0 if _FORMAT.match(c) else 0.0 for c in completions]

    return format


def repetition_penalty(text: str, n: int, max_penalty: float) -> float:
    """`max_penalty * (1 - distinct n-grams / all n-grams)` over lower-cased words;
    0 for texts shorter than one n-gram."""
    words = text.lower().split()
    if len(words) < n:
        return 0.0
    grams = list(zip(*(words[i:] for i in range(n)), strict=False))
    return (1 - len(set(grams)) / len(grams)) * max_penalty


def build_repetition(args: Any) -> Callable[..., list[float]]:
    if args.repetition_n_grams < 1:
        raise ArgumentError(f"--repetition_n_grams must be at least 1, got {args.repetition_n_grams}")
    if args.repetition_max_penalty > 0:
        raise ArgumentError(f"--repetition_max_penalty must be <= 0, got {args.repetition_max_penalty}")

    def repetition(completions: list[str], **columns: Any) -> list[float]:
        return [
            float(repetition_penalty(c, args.repetition_n_grams, args.repetition_max_penalty))
            for c in completions
        ]

    return repetition


def build_soft_overlong(args: Any) -> Callable[..., list[float]]:
    cache = args.soft_cache_length
    if cache is None or cache < 1:
        raise ArgumentError(
            "the soft_overlong reward needs --soft_cache_length N (a positive number of tokens)"
        )

    def soft_overlong(
        completions: list[str],
        completion_ids: Sequence[Sequence[int]] | None = None,
        max_completion_length: int | None = None,
        **columns: Any,
    ) -> list[float]:
        max_len = args.soft_max_length or max_completion_length or DEFAULT_MAX_LEN
        if cache >= max_len:
            raise ArgumentError(f"--soft_cache_length ({cache}) must be below soft_max_length ({max_len})")
        if completion_ids is not None and len(completion_ids) == len(completions):
            sizes = [len(ids) for ids in completion_ids]
        else:
            sizes = [len(c.split()) for c in completions]
        expected = max_len - cache
        return [float(max(-1.0, min(0.0, -(size - expected) / cache))) for size in sizes]

    return soft_overlong
