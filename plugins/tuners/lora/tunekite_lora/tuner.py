"""Applies LoRA with peft, mapping ms-swift's argument names onto `LoraConfig`."""

from __future__ import annotations

from typing import Any

from tunekite.api import apply_peft, peft_target_modules, peft_task_type
from tunekite_lora.plugin import LoraArguments


def init_lora_weights(value: str) -> bool | str:
    """ms-swift's `init_weights` spelling to peft's `init_lora_weights`."""
    return {"true": True, "false": False, "lora-ga": "lora_ga"}.get(value, value)


def lora_config(args: LoraArguments, common: Any, task_type: str = "CAUSAL_LM") -> Any:
    from peft import LoraConfig

    from tunekite_lora.lora_ga import lora_ga_config

    return LoraConfig(
        task_type=task_type,
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        bias=args.lora_bias,
        use_dora=args.use_dora,
        use_rslora=args.use_rslora,
        init_lora_weights=init_lora_weights(args.init_weights),
        target_modules=peft_target_modules(common),
        modules_to_save=list(common.modules_to_save) or None,
        lora_ga_config=lora_ga_config(args) if args.init_weights == "lora-ga" else None,
    )


def prepare(model: Any, args: LoraArguments, common: Any, batches: Any = None) -> Any:
    """Wrap `model` in a `peft.PeftModel` whose only trainable weights are the adapters;
    with `--adapters DIR`, training continues from that adapter instead of a new one; a
    quantized base (`--quant_method bnb`) trains as QLoRA. `--init_weights lora-ga` first
    estimates gradients on `batches` (a `TrainingBatches`) and keeps the initial adapter
    for the checkpoints' conversion (`tunekite_lora.lora_ga`)."""
    import torch

    from tunekite_lora import lora_ga

    config = lora_config(args, common, peft_task_type(model))
    if args.init_weights == "lora-ga":
        lora_ga.estimate_gradients(model, config, args, common, batches)
    peft_model = apply_peft(model, lambda _task_type: config, common)
    if args.lora_dtype is not None:
        dtype = getattr(torch, args.lora_dtype)
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(dtype)
    if args.init_weights == "lora-ga":
        lora_ga.keep_initial_adapter(peft_model)
    return peft_model


def loraplus_optimizer(model: Any, *, args: LoraArguments, run: Any) -> Any:
    """LoRA+ (`--lorap_lr_ratio`): AdamW whose B matrices learn `ratio` times faster; None
    leaves the optimizer to the trainer."""
    if args.lorap_lr_ratio is None:
        return None
    import torch
    from peft.optimizers import create_loraplus_optimizer

    return create_loraplus_optimizer(
        model,
        torch.optim.AdamW,
        lr=run.learning_rate,
        loraplus_lr_ratio=args.lorap_lr_ratio,
        weight_decay=run.weight_decay,
        betas=(run.adam_beta1, run.adam_beta2),
        eps=run.adam_epsilon,
    )
