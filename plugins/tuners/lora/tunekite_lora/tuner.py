"""Applies LoRA with peft, mapping ms-swift's argument names onto `LoraConfig`."""

from __future__ import annotations

from typing import Any

from tunekite_lora.plugin import LoraArguments


def init_lora_weights(value: str) -> bool | str:
    """ms-swift's `init_weights` spelling to peft's `init_lora_weights`."""
    return {"true": True, "false": False}.get(value, value)


def lora_config(args: LoraArguments, common: Any) -> Any:
    from peft import LoraConfig

    if common.target_regex:
        targets: str | list[str] = common.target_regex
    elif list(common.target_modules) == ["all-linear"]:
        targets = "all-linear"
    else:
        targets = list(common.target_modules)
    return LoraConfig(
        task_type="CAUSAL_LM",
        r=args.lora_rank,
        lora_alpha=args.lora_alpha,
        lora_dropout=args.lora_dropout,
        bias=args.lora_bias,
        use_dora=args.use_dora,
        use_rslora=args.use_rslora,
        init_lora_weights=init_lora_weights(args.init_weights),
        target_modules=targets,
        modules_to_save=list(common.modules_to_save) or None,
    )


def prepare(model: Any, args: LoraArguments, common: Any) -> Any:
    """Wrap `model` in a `peft.PeftModel` whose only trainable weights are the adapters."""
    import torch
    from peft import get_peft_model

    peft_model = get_peft_model(model, lora_config(args, common))
    if args.lora_dtype is not None:
        dtype = getattr(torch, args.lora_dtype)
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.data = param.data.to(dtype)
    return peft_model
