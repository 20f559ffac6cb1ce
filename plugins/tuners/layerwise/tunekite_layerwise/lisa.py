"""LISA (layerwise importance sampled AdamW): the tuner leaves every weight trainable so
the trainer's optimizer holds them all; during training a callback keeps only
`lisa_activated_layers` decoder layers trainable, drawn at random every
`lisa_step_interval` steps (embeddings, final norm and head always train, as in LMFlow
and ms-swift). A frozen layer gets no gradient, so AdamW skips it."""

from __future__ import annotations

import random
from typing import Any

from transformers import TrainerCallback

from tunekite.api import ArgumentError
from tunekite_layerwise.layers import decoder_layers
from tunekite_layerwise.plugin import LisaArguments


def prepare(model: Any, args: LisaArguments, common: Any) -> Any:
    """The model with every weight trainable; refuses more activated layers than it has."""
    layers = decoder_layers(model)
    if args.lisa_activated_layers > len(layers):
        raise ArgumentError(
            f"--lisa_activated_layers {args.lisa_activated_layers} exceeds the model's {len(layers)} layers"
        )
    model.requires_grad_(True)
    return model


class LayerSwitch(TrainerCallback):
    """Draws the trainable layers at the start of training and every `interval` steps. Each
    interval's draw depends only on the seed and the interval's number, so a resumed run
    trains the same layers as an uninterrupted one."""

    def __init__(self, activated: int, interval: int, seed: int = 42) -> None:
        self.activated, self.interval, self.seed = activated, interval, seed
        self.active: list[int] = []

    def switch(self, model: Any, step: int = 0) -> list[int]:
        """Freeze every decoder layer but the `activated` ones drawn for the interval of
        `step`; returns their indices."""
        layers = decoder_layers(model)
        draw = random.Random(f"{self.seed}:{step // self.interval}")
        self.active = sorted(draw.sample(range(len(layers)), self.activated))
        for index, layer in enumerate(layers):
            layer.requires_grad_(index in self.active)
        return self.active

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.switch(model, state.global_step)

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.global_step % self.interval == 0:
            self.switch(model, state.global_step)
