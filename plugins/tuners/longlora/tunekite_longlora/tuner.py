"""LongLoRA: LoRA on the target modules, embeddings and every norm trained in full (the
paper's LoRA+ for long context), and the model's attention switched to shifted sparse
attention for training. The context is extended by core's `--rope_scaling linear
--max_length N`; the adapter is a plain peft adapter, and inference uses full attention."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError, apply_peft, peft_target_modules
from tunekite_longlora.plugin import LongLoraArguments

TRAINED_IN_FULL = ("embed_tokens", "norm")
"""Module-name suffixes trained in full besides the LoRA weights (every `*norm`)."""


def prepare(model: Any, args: LongLoraArguments, common: Any) -> Any:
    from peft import LoraConfig

    from tunekite_longlora.attention import register

    if getattr(model.config, "sliding_window", None) and getattr(model.config, "use_sliding_window", True):
        raise ArgumentError(
            f"--tuner longlora: {model.config.model_type} uses sliding-window attention, which "
            "shifted sparse attention would replace; use --tuner lora"
        )
    model.config.longlora_group_size_ratio = args.longlora_group_size_ratio
    model.set_attn_implementation(register())

    def config(task_type: str) -> Any:
        return LoraConfig(
            task_type=task_type,
            r=args.lora_rank,
            lora_alpha=args.lora_alpha,
            lora_dropout=args.lora_dropout,
            target_modules=peft_target_modules(common),
            modules_to_save=[*TRAINED_IN_FULL, *common.modules_to_save],
        )

    return apply_peft(model, config, common)
