"""Finding a causal LM's stack of decoder layers, which both tuners work on."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError


def decoder_layers(model: Any) -> Any:
    """The `torch.nn.ModuleList` of the model's decoder layers: the one that holds
    `config.num_hidden_layers` modules."""
    import torch

    count = model.config.num_hidden_layers
    for module in model.modules():
        if isinstance(module, torch.nn.ModuleList) and len(module) == count:
            return module
    raise ArgumentError(
        f"{type(model).__name__} has no list of {count} decoder layers (config.num_hidden_layers) to work on"
    )
