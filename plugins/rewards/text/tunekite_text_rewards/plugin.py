"""Registers the `format`, `repetition` and `soft_overlong` rewards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import RewardSpec, arg, hookimpl


@dataclass(kw_only=True)
class RepetitionArguments:
    """ms-swift's repetition reward arguments."""

    repetition_n_grams: int = arg(3, help="n-gram size used to detect repetition")
    repetition_max_penalty: float = arg(-1.0, help="reward of a completion made of one repeated n-gram")


@dataclass(kw_only=True)
class SoftOverlongArguments:
    """DAPO's soft overlong punishment, as ms-swift names it."""

    soft_max_length: int | None = arg(None, help="length (tokens) scored -1; default max_completion_length")
    soft_cache_length: int | None = arg(
        None, help="the penalty ramps from 0 to -1 over the last this many tokens before soft_max_length"
    )


@hookimpl
def tk_register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="format",
            summary="1.0 for a completion shaped <think>...</think><answer>...</answer>, else 0.0",
            factory="tunekite_text_rewards.rewards:build_format",
        )
    )
    register(
        RewardSpec(
            name="repetition",
            summary="Penalises repeated n-grams, down to repetition_max_penalty",
            args=RepetitionArguments,
            factory="tunekite_text_rewards.rewards:build_repetition",
        )
    )
    register(
        RewardSpec(
            name="soft_overlong",
            summary="0 up to soft_max_length - soft_cache_length tokens, then down to -1 (DAPO)",
            args=SoftOverlongArguments,
            factory="tunekite_text_rewards.rewards:build_soft_overlong",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
