"""The `reft` tuner: the base model frozen, pyreft interventions trained on its decoder
layers' outputs, and checkpoints that hold the interventions alone (`reft_config.json` and
their weights), which `tk run infer --adapters CKPT` loads back through `load_adapter`."""

from __future__ import annotations

from types import MethodType
from typing import Any

from tunekite.api import ArgumentError
from tunekite_reft import interventions
from tunekite_reft.plugin import ReftArguments


def prepare(model: Any, args: ReftArguments, common: Any) -> Any:
    if common.adapters:
        raise ArgumentError("--tuner reft: continuing from --adapters is not supported; start a new run")
    config = {
        "intervention_type": args.reft_intervention_type,
        "rank": args.reft_rank,
        "layers": list(args.reft_layers),
        "kwargs": args.intervention_kwargs(),
    }
    model.requires_grad_(False)
    added = interventions.attach(model, config)
    for intervention in added:
        intervention.requires_grad_(True)

    def save_pretrained(self: Any, save_directory: str, **_: Any) -> None:
        """What transformers' Trainer calls to save: the interventions, not the base model."""
        interventions.save(self, save_directory, config)

    model.save_pretrained = MethodType(save_pretrained, model)
    return model


def load_adapter(model: Any, folder: str) -> Any:
    """The model with the ReFT interventions saved in `folder` (core's `adapter_loader`)."""
    return interventions.load(model, folder).eval()
