"""Which registered model spec handles a `--model` value, decided without loading anything.

Order: `--model_type NAME` forces that spec; a `--model` that is a registered name (or
alias) is that named model; a path ending in a suffix some spec claims
(`ModelSpec.file_suffixes`, e.g. `.gguf`) goes to that spec; a local folder whose
config.json `architectures` a model type lists gets that model type (see
`by_architecture`); anything else is a Hugging Face folder or hub id for the built-in
`hf` loader. Registered names never contain a
'/', so `./NAME` always means the local folder.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tunekite.errors import ArgumentError, DuplicateNameError, UnknownNameError
from tunekite.plugin_host import PluginHost
from tunekite.registrations import ModelSpec
from tunekite.templates.detect import detect_template

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
        raise DuplicateNameError(
            f"--model {model!r} is claimed by the model loaders {owners}; pick one with --model_type."
        )
    if claims:
        return claims[0].spec
    return by_architecture(model, host) or models.get(HF_LOADER)


def by_architecture(folder: str, host: PluginHost) -> ModelSpec | None:
    """The model type of a local folder, read from its config.json and tokenizer_config.json
    without importing transformers: the one spec listing its architecture, or, when several
    do (Qwen2ForCausalLM is Qwen2, Qwen2.5 and the R1 distills), the one whose template the
    folder's chat template matches; None when that leaves none or several."""
    path = Path(folder)
    architectures = _json(path / "config.json").get("architectures") or []
    specs = [e.spec for e in host.registry("models")]
    candidates = [s for s in specs if set(s.architectures) & set(architectures)]
    if len(candidates) > 1:
        jinja = path / "chat_template.jinja"  # where newer transformers save it
        chat_template = (
            jinja.read_text(encoding="utf-8")
            if jinja.is_file()
            else _json(path / "tokenizer_config.json").get("chat_template")
        )
        if isinstance(chat_template, str):
            detected = detect_template(chat_template, host)
            candidates = [s for s in candidates if s.template == detected]
        else:
            candidates = []
    return candidates[0] if len(candidates) == 1 else None


def _json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def declared_template(model: str | None, model_type: str | None = None, *, host: PluginHost) -> str | None:
    """The chat template the model's spec declares (`ModelSpec.template`), or None.

    Cheap: reads only the registry, so template auto-selection can call it before any
    weights or tokenizer are loaded.
    """
    return resolve_model_spec(model, model_type, host=host).template


def declared_system(model: str | None, model_type: str | None = None, *, host: PluginHost) -> str | None:
    """The default system prompt of the model's spec (`ModelSpec.default_system`), or None."""
    if not (model or model_type):
        return None
    return resolve_model_spec(model, model_type, host=host).default_system
