"""The `full` tuner: train the model's own weights, with ms-swift's freezing controls."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from tunekite.arguments.fields import arg


@dataclass(kw_only=True)
class FullArguments:
    """Which parameters full fine-tuning leaves frozen."""

    freeze_parameters: list[str] = arg(default_factory=list, help="name prefixes of parameters to freeze")
    freeze_parameters_ratio: float = arg(
        0.0, help="fraction of parameters (by element count, from the bottom up) to freeze; 1 freezes all"
    )
    trainable_parameters: list[str] = arg(
        default_factory=list,
        help="name prefixes kept trainable; wins over the two freezing options",
    )

    def __post_init__(self) -> None:
        if not 0.0 <= self.freeze_parameters_ratio <= 1.0:
            raise ValueError(
                f"freeze_parameters_ratio must be between 0 and 1, got {self.freeze_parameters_ratio}"
            )


def prepare(model: Any, args: FullArguments, run: Any = None) -> Any:
    """Set `requires_grad` on every parameter; returns the same model."""
    named = list(model.named_parameters())
    budget = sum(p.numel() for _, p in named) * args.freeze_parameters_ratio
    for (name, param), running in zip(named, accumulate(p.numel() for _, p in named), strict=True):
        frozen = running <= budget or name.startswith(tuple(args.freeze_parameters) or ("\0",))
        if args.trainable_parameters and name.startswith(tuple(args.trainable_parameters)):
            frozen = False
        param.requires_grad_(not frozen)
    return model
