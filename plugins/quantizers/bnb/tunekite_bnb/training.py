"""Training on 4-bit weights on a CPU, kept correct.

bitsandbytes 0.50 repacks a 4-bit weight for its AVX512-bf16 CPU kernel the first time the
layer runs in eval mode without gradients (an evaluation pass, a logits check). That kernel
has no backward, so every later training step would silently drop the gradient flowing
through each quantized layer: adapters below the last layer learn from a wrong signal.
"""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


def keep_trainable(model: Any) -> int:
    """Turn the repacking off in every 4-bit layer of `model` (undoing it where it already
    happened, through bitsandbytes' own inverse); returns how many layers it touched."""
    from bitsandbytes.nn import Linear4bit
    from bitsandbytes.nn.modules import _convert_weight_packed_for_cpu_inverse

    layers = [m for m in model.modules() if isinstance(m, Linear4bit)]
    for layer in layers:
        layer.support_avx512bf16_for_cpu = False
        if getattr(layer.weight.quant_state, "packing_format_for_cpu", False):
            layer.weight.data, layer.weight.quant_state = _convert_weight_packed_for_cpu_inverse(
                layer.weight.data, layer.weight.quant_state
            )
    return len(layers)


class KeepTrainable(TrainerCallback):
    """`keep_trainable` on the trainer's model before the first step."""

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        keep_trainable(model)
