"""Registers the `lora` tuner. Light on purpose: peft is imported only by the factory."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

from tunekite.api import TunerSpec, arg, hookimpl

_INIT_WEIGHTS = re.compile(r"^(true|false|gaussian|pissa|pissa_niter_\d+|olora|lora-ga)$")


@dataclass(kw_only=True)
class LoraArguments:
    """LoRA's own arguments, with ms-swift 3.x names and defaults."""

    lora_rank: int = arg(8, help="rank of the low-rank update")
    lora_alpha: int = arg(32, help="scaling numerator: the update is scaled by alpha/rank")
    lora_dropout: float = arg(0.05, help="dropout on the LoRA branch input")
    lora_bias: Literal["none", "all"] = arg("none", help="train no biases, or all of them")
    lora_dtype: Literal["float16", "bfloat16", "float32"] | None = arg(
        None, help="dtype of the LoRA weights; None keeps the model's"
    )
    use_dora: bool = arg(False, help="weight-decomposed LoRA (DoRA)")
    use_rslora: bool = arg(False, help="rank-stabilised scaling alpha/sqrt(rank)")
    init_weights: str = arg(
        "true",
        help="true, false, gaussian, pissa, pissa_niter_N (fast SVD), olora, or lora-ga (from the "
        "gradients of a few training batches; the lora_ga_* arguments)",
    )
    lorap_lr_ratio: float | None = arg(
        None, help="LoRA+: learning rate of the B matrices over A's (10 to 16 recommended); None is off"
    )
    lora_ga_batch_size: int = arg(2, help="LoRA-GA: batch size of the gradient estimate")
    lora_ga_iters: int = arg(2, help="LoRA-GA: how many training batches the gradient is averaged over")
    lora_ga_max_length: int = arg(1024, help="LoRA-GA: tokens of each sample the estimate reads")
    lora_ga_direction: Literal["ArBr", "A2rBr", "ArB2r", "random"] = arg(
        "ArB2r", help="LoRA-GA: which of the gradient's singular vectors initialise A and B"
    )
    lora_ga_scale: Literal["gd", "unit", "stable", "weightS"] = arg(
        "stable", help="LoRA-GA: how the initial A and B are scaled"
    )
    lora_ga_stable_gamma: int = arg(16, help="LoRA-GA: gamma of the stable scaling")

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ValueError(f"lora_rank must be at least 1, got {self.lora_rank}")
        if not 0.0 <= self.lora_dropout < 1.0:
            raise ValueError(f"lora_dropout must be in [0, 1), got {self.lora_dropout}")
        if self.lorap_lr_ratio is not None and self.lorap_lr_ratio <= 0:
            raise ValueError(f"lorap_lr_ratio must be positive, got {self.lorap_lr_ratio}")
        if not _INIT_WEIGHTS.match(self.init_weights):
            raise ValueError(
                f"init_weights {self.init_weights!r} is not one of "
                "true, false, gaussian, pissa, pissa_niter_N, olora, lora-ga"
            )
        for name in ("lora_ga_batch_size", "lora_ga_iters", "lora_ga_max_length", "lora_ga_stable_gamma"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.init_weights == "lora-ga" and self.use_dora:
            raise ValueError(
                "use_dora with init_weights lora-ga: DoRA's magnitudes are taken from the offset base "
                "weights, so the adapter cannot be converted to apply to the original base"
            )
        if self.init_weights != "lora-ga":
            for f in fields(self):
                if f.name.startswith("lora_ga_") and getattr(self, f.name) != f.default:
                    raise ValueError(f"{f.name} is read only with --init_weights lora-ga")


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="lora",
            summary="Low-rank adapters through peft (DoRA, rsLoRA, PiSSA, OLoRA, LoRA-GA, LoRA+)",
            args=LoraArguments,
            factory="tunekite_lora.tuner:prepare",
            optimizer="tunekite_lora.tuner:loraplus_optimizer",
            uses_training_batches=True,
            checkpoint_converter="tunekite_lora.lora_ga:convert_checkpoint",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "peft")
"""What the tuner's factory imports (`tunekite[train]`); `tk plugins` says so when absent."""
