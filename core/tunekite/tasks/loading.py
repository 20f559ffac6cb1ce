"""A model ready for inference or export: base model, adapters, template, from args.json when
only `--adapters` is given (ms-swift's load_args behaviour)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tunekite.arguments.parser import ARGS_FILE, read_args_json
from tunekite.errors import ArgumentError

INHERITED = {"model": ("model", "model_type", "torch_dtype"), "template": ("template", "system")}


def checkpoint_args(adapter: str) -> dict[str, Any]:
    """The args.json of a checkpoint (its own, or its run folder's)."""
    folder = Path(adapter)
    if not folder.is_dir():
        raise ArgumentError(f"--adapters {adapter}: no such folder")
    for candidate in (folder / ARGS_FILE, folder.parent / ARGS_FILE):
        if candidate.is_file():
            return read_args_json(str(candidate))[1]
    return {}


def with_checkpoint_defaults(run: Any) -> dict[str, Any]:
    """The model and template groups, filled from the first adapter's args.json where unset."""
    groups = {"model": run.groups["model"], "template": run.groups["template"]}
    adapters = run.groups["tuner"].adapters
    if not adapters:
        if not groups["model"].model:
            raise ArgumentError("pass --model (a folder, hub id or registered name) or --adapters CHECKPOINT")
        return groups
    saved = checkpoint_args(adapters[0])
    for group, names in INHERITED.items():
        current = groups[group]
        fill = {n: saved[n] for n in names if getattr(current, n) is None and saved.get(n) is not None}
        groups[group] = dataclasses.replace(current, **fill)
    if not groups["model"].model:
        raise ArgumentError(f"--adapters {adapters[0]}: no args.json names the base model; pass --model")
    return groups


def load_for_inference(run: Any, *, merge: bool) -> tuple[Any, Any, Any]:
    """(model, tokenizer, template): adapters applied (and merged when asked)."""
    from tunekite.models.loader import load_model
    from tunekite.templates.resolve import build_template

    groups = with_checkpoint_defaults(run)
    model, tokenizer = load_model(groups["model"])
    adapters = run.groups["tuner"].adapters
    if adapters:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapters[0], adapter_name=Path(adapters[0]).name)
        for extra in adapters[1:]:
            model.load_adapter(extra, adapter_name=Path(extra).name)
        if merge:
            model = model.merge_and_unload()
    margs = groups["model"]
    template = build_template(tokenizer, groups["template"], margs.model, margs.model_type)
    return model, tokenizer, template
