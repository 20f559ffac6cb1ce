"""What every peft-based tuner plugin does alike: targets, task type, quantized bases,
and continuing from `--adapters`; and adding a saved adapter for inference. Plugins reach
these through `tunekite.api`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunekite.constants import DEFAULT_ADAPTER
from tunekite.errors import ArgumentError

ADAPTER_CONFIG = "adapter_config.json"


def peft_target_modules(common: Any) -> str | list[str]:
    """peft's `target_modules` from core's `TunerArguments`: `--target_regex` wins, `all-linear`
    is peft's own spelling (every linear but the output head), otherwise the module names."""
    if common.target_regex:
        return common.target_regex
    if list(common.target_modules) == ["all-linear"]:
        return "all-linear"
    return list(common.target_modules)


def peft_task_type(model: Any) -> str:
    """peft's task type for `model`: SEQ_CLS wraps a classification model (reward models),
    whose causal-LM wrapper would call `generate`-only machinery it lacks."""
    return "SEQ_CLS" if type(model).__name__.endswith("ForSequenceClassification") else "CAUSAL_LM"


def apply_peft(model: Any, config: Callable[[str], Any], common: Any) -> Any:
    """`model` wrapped in a `peft.PeftModel` whose only trainable weights are the adapter's:
    a new one from `config(task_type)`, or with `--adapters DIR` the saved one, trained on.
    A quantized base (`--quant_method`) is first readied by peft's
    `prepare_model_for_kbit_training` (norms in fp32, input gradients on); gradient
    checkpointing stays the trainer's, under `--gradient_checkpointing`."""
    from peft import PeftModel, get_peft_model, prepare_model_for_kbit_training

    if len(common.adapters) > 1:
        raise ArgumentError(f"--adapters: training continues from one adapter, got {len(common.adapters)}")
    if getattr(model, "is_quantized", False):
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if common.adapters:
        return PeftModel.from_pretrained(model, common.adapters[0], is_trainable=True)
    return get_peft_model(model, config(peft_task_type(model)))


def apply_adapter(model: Any, folder: str, name: str = DEFAULT_ADAPTER) -> Any:
    """The model with the PEFT adapter saved in `folder` added as `name`, for inference: the
    model wrapped in a `peft.PeftModel`, or the same PeftModel with one more adapter."""
    from peft import PeftModel

    path = Path(folder)
    if not (path / ADAPTER_CONFIG).is_file():
        hint = " It holds a full model: pass it as --model." if (path / "config.json").is_file() else ""
        raise ArgumentError(f"--adapters {folder}: no {ADAPTER_CONFIG}, so it is not a PEFT adapter.{hint}")
    if isinstance(model, PeftModel):
        model.load_adapter(str(path), adapter_name=name, is_trainable=False)
        return model
    return PeftModel.from_pretrained(model, str(path), adapter_name=name, is_trainable=False)
