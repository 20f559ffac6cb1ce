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
    """Draws the trainable layers at the start of training and every `interval` steps."""

    def __init__(self, activated: int, interval: int, seed: int = 42) -> None:
        self.activated, self.interval = activated, interval
        self.random = random.Random(seed)
        self.active: list[int] = []

    def switch(self, model: Any) -> list[int]:
        """Freeze every decoder layer but `activated` ones drawn at random; returns their indices."""
        layers = decoder_layers(model)
        self.active = sorted(self.random.sample(range(len(layers)), self.activated))
        for index, layer in enumerate(layers):
            layer.requires_grad_(index in self.active)
        return self.active

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        self.switch(model)

    def on_step_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if state.global_step and state.global_step % self.interval == 0:
            self.switch(model)
