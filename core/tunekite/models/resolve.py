"""Which registered model spec handles a `--model` value, decided without loading anything.

Order: `--model_type NAME` forces that spec; a `--model` that is a registered name (or
alias) is that named model; a path ending in a suffix some spec claims
(`ModelSpec.file_suffixes`, e.g. `.gguf`) goes to that spec; anything else is a Hugging
Face folder or hub id for the built-in `hf` loader. Registered names never contain a
'/', so `./NAME` always means the local folder.
"""

from __future__ import annotations

import os

from tunekite.errors import ArgumentError, DuplicateNameError, UnknownNameError
from tunekite.plugin_host import PluginHost
from tunekite.registrations import ModelSpec

HF_LOADER = "hf"


def resolve_model_spec(model: str | None, model_type: str | None = None, *, host: PluginHost) -> ModelSpec:
    """The spec whose factory loads `model` (see the module docstring for the order)."""
    models = host.registry("models")
    if model_type is not None:
        try:
            return models.get(model_type)
        except UnknownNameError as exc:
            raise ArgumentError(f"--model_type: {exc}") from None
    if not model:
        raise ArgumentError("No model given: pass --model with a model folder, hub id or registered name.")
    if model in models:
        return models.get(model)
    if model in models.hints and not os.path.exists(model):  # a named model whose plugin is missing
        raise ArgumentError(f"--model: {models.hints[model]}")
    lowered = model.lower()
    claims = [e for e in models if any(lowered.endswith(s) for s in e.spec.file_suffixes)]
    if len(claims) > 1:
        owners = " and ".join(f"{e.spec.name!r} ({e.distribution or e.plugin})" for e in claims)
        raise DuplicateNameError(f"--model {model!r} is claimed by the model loaders {owners}; "
                                 "pick one with --model_type.")
    return claims[0].spec if claims else models.get(HF_LOADER)


def declared_template(model: str | None, model_type: str | None = None, *, host: PluginHost) -> str | None:
    """The chat template the model's spec declares (`ModelSpec.template`), or None.

    Cheap: reads only the registry, so template auto-selection can call it before any
    weights or tokenizer are loaded.
    """
    return resolve_model_spec(model, model_type, host=host).template
