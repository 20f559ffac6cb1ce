"""Registers the `longlora` tuner. Light on purpose: torch, transformers and peft are
imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import TunerSpec, arg, hookimpl


@dataclass(kw_only=True)
class LongLoraArguments:
    """LongLoRA's arguments: ms-swift's `train_type longlora` reads LoRA's, with the paper's
    attention group of a quarter of the sequence."""

    lora_rank: int = arg(8, help="rank of the low-rank update")
    lora_alpha: int = arg(32, help="scaling numerator: the update is scaled by alpha/rank")
    lora_dropout: float = arg(0.05, help="dropout on the LoRA branch input")
    longlora_group_size_ratio: float = arg(
        0.25, help="shifted sparse attention's group, as a fraction of the training sequence"
    )

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be at least 1, got {self.lora_rank}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if not 0.0 < self.longlora_group_size_ratio <= 1.0:
            raise ValueError(
                f"longlora_group_size_ratio must be in (0, 1], got {self.longlora_group_size_ratio}"
            )


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="longlora",
            summary="LongLoRA: LoRA plus embeddings and norms, trained with shifted sparse attention",
            args=LongLoraArguments,
            factory="tunekite_longlora.tuner:prepare",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "peft")
"""What the tuner's factory imports (`tunekite[train]`); `tk plugins` says so when absent."""
