"""LLaMA-Pro block expansion: after each group of decoder layers, copies of the group's
last layer whose output projections (`o_proj`, `down_proj`) are zero, so each new block
adds nothing to the residual stream and the model's output is unchanged until training
moves them. Only the new blocks train; the result is a plain transformers model with
`num_hidden_layers` larger by `llamapro_num_new_blocks`."""

from __future__ import annotations

import copy
from typing import Any

from tunekite.api import ArgumentError
from tunekite_layerwise.layers import decoder_layers
from tunekite_layerwise.plugin import LlamaProArguments

OUTPUT_PROJECTIONS = ("o_proj", "down_proj")
"""The Llama-family linears that write into the residual stream (Llama, Qwen, Mistral, ...)."""


def prepare(model: Any, args: LlamaProArguments, common: Any) -> Any:
    """`model` with the new blocks inserted in place, and only they trainable."""
    import torch

    layers = decoder_layers(model)
    count, groups = len(layers), args.llamapro_num_groups or args.llamapro_num_new_blocks
    if count % groups:
        raise ArgumentError(
            f"--llamapro_num_groups {groups} does not divide the model's {count} layers into equal groups"
        )
    size, added = count // groups, args.llamapro_num_new_blocks // groups
    expanded, origin = [], []
    for start in range(0, count, size):
        expanded += layers[start : start + size]
        origin += range(start, start + size)
        expanded += [zero_block(layers[start + size - 1]) for _ in range(added)]
        origin += [start + size - 1] * added
    model.requires_grad_(False)
    for block in expanded:
        if not any(block is old for old in layers):
            block.requires_grad_(True)
    renumber(model, torch.nn.ModuleList(expanded), layers, origin)
    return model


def zero_block(layer: Any) -> Any:
    """A copy of `layer` whose output projections are zero: it passes its input on unchanged."""
    block = copy.deepcopy(layer)
    zeroed = [m for name, m in block.named_modules() if name.rsplit(".", 1)[-1] in OUTPUT_PROJECTIONS]
    if len(zeroed) != len(OUTPUT_PROJECTIONS):
        raise ArgumentError(
            "--tuner llamapro expands Llama-family decoder layers (with o_proj and down_proj); "
            f"{type(layer).__name__} has other output projections"
        )
    for module in zeroed:
        module.weight.data.zero_()
        if module.bias is not None:
            module.bias.data.zero_()
    return block


def renumber(model: Any, expanded: Any, layers: Any, origin: list[int]) -> None:
    """Put `expanded` where `layers` was, tell every layer its new index (the KV cache is
    indexed by it), and grow the config: `num_hidden_layers` and, where the model has it,
    the per-layer `layer_types`."""
    parent = next(m for m in model.modules() if any(child is layers for child in m.children()))
    name = next(n for n, child in parent.named_children() if child is layers)
    setattr(parent, name, expanded)
    for index, block in enumerate(expanded):
        for module in block.modules():
            if hasattr(module, "layer_idx"):
                module.layer_idx = index
    config = model.config
    if getattr(config, "layer_types", None):
        config.layer_types = [config.layer_types[i] for i in origin]
    config.num_hidden_layers = len(expanded)
