"""LoRA-GA (`--init_weights lora-ga`) through peft's own implementation: A and B start from the
SVD of the base weights' gradients, estimated on a few training batches, and the base weights
are offset so the model's output is unchanged. Checkpoints are converted at save so their
adapter applies to the original base (peft's `path_initial_model_for_weight_conversion`)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
import weakref
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError
from tunekite_lora.plugin import LoraArguments

INITIAL_ADAPTER = "tunekite_lora_ga_initial"
"""Attribute of a LoRA-GA `PeftModel`: the folder of its adapter as initialised, which the
conversion subtracts. peft names the adapter it loads from there after the folder."""

_SCALES = {"gd": "gd_scale", "unit": "unit", "stable": "stable", "weightS": "weight_svd"}
"""ms-swift's `lora_ga_scale` names to peft's `LoraGAConfig.scale`."""


def lora_ga_config(args: LoraArguments) -> Any:
    from peft import LoraGAConfig

    scale = _SCALES[args.lora_ga_scale]
    return LoraGAConfig(direction=args.lora_ga_direction, scale=scale, stable_gamma=args.lora_ga_stable_gamma)


def estimate_gradients(model: Any, config: Any, args: LoraArguments, common: Any, batches: Any) -> None:
    """Attach to each target linear of `model` its weight's gradient, averaged over
    `lora_ga_iters` training batches (peft's `preprocess_loraga`); `get_peft_model` with
    `config` then initialises from them. `config.target_modules` is resolved first
    (`all-linear` to the module names), since the estimate reads it before peft would."""
    from peft import preprocess_loraga
    from peft.tuners.tuners_utils import _maybe_include_all_linear_layers

    why = _refusal(model, common, batches)
    if why:
        raise ArgumentError(f"--init_weights lora-ga: {why}")
    _maybe_include_all_linear_layers(config, model)
    device = next(model.parameters()).device
    taken = batches.take(args.lora_ga_iters, args.lora_ga_batch_size, args.lora_ga_max_length)

    def train_step() -> None:
        for batch in taken:
            model(**{k: v.to(device) for k, v in batch.items()}, use_cache=False).loss.backward()

    with warnings.catch_warnings():
        # peft counts backward passes with full backward hooks, which fire (and warn that
        # they do) on the output gradients alone when the inputs need none: the count is right
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        preprocess_loraga(model, config, train_step)


def _refusal(model: Any, common: Any, batches: Any) -> str | None:
    if common.adapters:
        return "--adapters continues a saved adapter, whose initialisation is not redone; drop one of them"
    if batches is None:
        return "this trainer gives the tuner no training batches to estimate the gradients on"
    if getattr(model, "is_quantized", False):
        return "it needs the full-precision gradients of the base weights, which a quantized model has not"
    if any(hasattr(p, "ds_id") for p in model.parameters()):
        return "DeepSpeed ZeRO-3 partitions the base weights, whose whole gradients it needs; use zero2"
    return None


def keep_initial_adapter(peft_model: Any) -> None:
    """Save the adapter as initialised into a temporary folder that lives as long as the model,
    for `convert_checkpoint` to subtract."""
    folder = Path(tempfile.mkdtemp(prefix="tunekite-lora-ga-")) / "lora_ga_initial"
    peft_model.save_pretrained(str(folder))
    weakref.finalize(peft_model, shutil.rmtree, str(folder.parent), True)
    setattr(peft_model, INITIAL_ADAPTER, str(folder))


def convert_checkpoint(model: Any, folder: Path) -> bool:
    """`TunerSpec.checkpoint_converter`: a LoRA-GA model's adapter saved again into `folder` as
    a plain LoRA of twice the rank, trained update minus initial, which applies to the
    original base weights (plain `PeftModel.from_pretrained`, `--merge_lora`). False for
    any other model, whose saved adapter stays as it is."""
    initial = getattr(model, INITIAL_ADAPTER, None)
    if initial is None:
        return False
    model.save_pretrained(str(folder), path_initial_model_for_weight_conversion=initial)
    return True
