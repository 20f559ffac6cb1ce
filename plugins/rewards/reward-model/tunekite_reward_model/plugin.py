"""Registers the `reward_model` reward. Light: torch and transformers load in the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import RewardSpec, arg, hookimpl


@dataclass(kw_only=True)
class RewardModelArguments:
    """Which model scores the completions. `tk run rlhf` fills `reward_model_path` from its
    own `--reward_model` (ms-swift's name), so GRPO users pass only that."""

    reward_model_path: str | None = arg(
        None, help="folder of a sequence-classification model (logit 0 is the reward); rlhf: --reward_model"
    )
    reward_model_adapters: list[str] = arg(
        default_factory=list, help="adapters merged into the reward model; rlhf: --reward_adapters"
    )
    reward_model_batch_size: int = arg(16, help="completions scored per forward pass")
    reward_model_max_length: int | None = arg(
        None, help="truncate prompt + completion to this many tokens (default: the model's limit)"
    )


@hookimpl
def tk_register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="reward_model",
            summary="Score of prompt + completion by a sequence-classification model (rlhf: --reward_model)",
            args=RewardModelArguments,
            factory="tunekite_reward_model.score:build",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers")
"""What loading a reward model imports; `tk plugins` says so when absent."""
