"""Core's built-in components, registered through the same hooks as any plugin."""

from __future__ import annotations

from collections.abc import Callable

from tunekite import hookimpl
from tunekite.builtins.full import FullArguments
from tunekite.specs import TrainerSpec, TunerSpec

TRAINING_GROUPS = ("model", "data", "template", "quantization", "tuner", "training")


@hookimpl
def tk_register_trainers(register: Callable[[TrainerSpec], None]) -> None:
    for name, summary in (
        ("sft", "Supervised fine-tuning on conversations"),
        ("pt", "Continued pre-training on plain text"),
    ):
        recipe = "tunekite.recipes.sft:run"
        register(TrainerSpec(name=name, summary=summary, groups=TRAINING_GROUPS, factory=recipe))


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="full",
            summary="Train every parameter, optionally freezing some",
            args=FullArguments,
            factory="tunekite.builtins.full:prepare",
            learning_rate=1e-5,
        )
    )
