"""Registers the `rlhf` trainer. Light: TRL, torch and transformers load only when a run starts."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import TrainerSpec, hookimpl
from tunekite_rlhf.args import RlhfArguments


@hookimpl
def tk_register_trainers(register: Callable[[TrainerSpec], None]) -> None:
    register(
        TrainerSpec(
            name="rlhf",
            summary="Alignment with HF TRL: --rlhf_type dpo|orpo|simpo|kto|cpo|rm|ppo|grpo",
            groups=("model", "data", "template", "quantization", "tuner", "training"),
            args=RlhfArguments,
            defaults=(("loss_scale", "last_round"),),
            factory="tunekite_rlhf.recipe:run",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "datasets", "peft", "trl")
"""What the trainers import (`tunekite[train]` and trl); `tk plugins` says so when absent."""
