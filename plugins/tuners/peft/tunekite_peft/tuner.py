"""Applies a `METHODS` row: its arguments become the peft config, `apply_peft` wraps the model."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError, apply_peft, peft_target_modules
from tunekite_peft.methods import METHODS

ADALORA_PROVISIONAL_STEPS = 1_000
"""AdaLoRA's config needs `total_step` up front; the training callback replaces this with
the trainer's real step count before the first step."""


def prepare(name: str, model: Any, args: Any, common: Any) -> Any:
    """`model` wrapped by peft method `name` (a key of `METHODS`), only its adapter trainable."""
    import peft

    method = METHODS[name]
    options = method.options(args)
    options.update(_targets(name, method.targets, common))
    if method.short_names and options["target_modules"] == "all-linear":
        options["target_modules"] = linear_names(model)
    if options.get("prompt_tuning_init_text"):
        options["tokenizer_name_or_path"] = model.name_or_path
    if name == "adalora":
        options["total_step"] = ADALORA_PROVISIONAL_STEPS + options["tinit"] + options["tfinal"]
    config_class = getattr(peft, method.config)
    return apply_peft(model, lambda task_type: config_class(task_type=task_type, **options), common)


def linear_names(model: Any) -> list[str]:
    """The names of the model's linear layers, the output head left out (peft's all-linear)."""
    import torch

    head = model.get_output_embeddings()
    return sorted(
        {
            name.rsplit(".", 1)[-1]
            for name, m in model.named_modules()
            if isinstance(m, torch.nn.Linear) and m is not head
        }
    )


def _targets(name: str, kind: str, common: Any) -> dict[str, Any]:
    """peft's target options for the method, refusing `--target_*`/`--modules_to_save`
    where the method has no such thing."""
    saved = list(common.modules_to_save) or None
    if kind == "modules":
        return {"target_modules": peft_target_modules(common), "modules_to_save": saved}
    named = common.target_regex or list(common.target_modules) != ["all-linear"]
    if kind == "norms":
        return {"target_modules": peft_target_modules(common) if named else None, "modules_to_save": saved}
    if named or saved:
        raise ArgumentError(
            f"--tuner {name} learns virtual tokens and attaches to no module: drop --target_modules, "
            "--target_regex and --modules_to_save"
        )
    return {}
