"""Registers the `accuracy` and `cosine` rewards. Light: math-verify loads in the factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import RewardSpec, arg, hookimpl


@dataclass(kw_only=True)
class CosineArguments:
    """ms-swift's cosine reward arguments (length-aware correctness)."""

    cosine_min_len_value_wrong: float = arg(0.0, help="cosine reward of a wrong answer at length 0")
    cosine_max_len_value_wrong: float = arg(-0.5, help="cosine reward of a wrong answer at cosine_max_len")
    cosine_min_len_value_correct: float = arg(1.0, help="cosine reward of a correct answer at length 0")
    cosine_max_len_value_correct: float = arg(0.5, help="cosine reward of a correct answer at cosine_max_len")
    cosine_max_len: int | None = arg(
        None, help="length (tokens) where the curve ends; default max_completion_length"
    )


@hookimpl
def tk_register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="accuracy",
            summary="1.0 when the completion's final answer equals the row's `solution` (math-verify)",
            factory="tunekite_math_rewards.rewards:build_accuracy",
        )
    )
    register(
        RewardSpec(
            name="cosine",
            summary="Correctness shaped by length: short right answers score most, short wrong ones least",
            args=CosineArguments,
            factory="tunekite_math_rewards.rewards:build_cosine",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("math_verify",)
"""What the accuracy reward imports; `tk plugins` says so when absent."""
