"""Registers the `galore` tuner. Light on purpose: galore-torch is imported by the optimizer.

GaLore is a tuner that brings its own optimizer, not an optimizer plugin: it changes
*which* weights train and *how* (every weight trains, the chosen 2-D ones through a
low-rank projection of their gradient), which is what a tuner decides; TuneKite has no
optimizer kind, and `TunerSpec.optimizer` (as LoRA+ uses it) is exactly the hook that
hands the trainer a ready optimizer while `--optim`, the scheduler and checkpoints stay
the trainer's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import TunerSpec, arg, hookimpl

_QGALORE = "Q-GaLore needs the q-galore-torch package and its CUDA int8 kernels; not available here"


@dataclass(kw_only=True)
class GaloreArguments:
    """GaLore's arguments, with ms-swift 3.x names and defaults."""

    use_galore: bool = arg(
        True, help="project the gradients of the target weights; false trains them with plain --optim"
    )
    galore_target_modules: list[str] = arg(
        default_factory=list,
        help="names (suffixes) of the linear layers projected; empty: every attention and MLP linear",
    )
    galore_rank: int = arg(128, help="rank of the gradient projection")
    galore_update_proj_gap: int = arg(50, help="optimizer steps between two recomputations of the projection")
    galore_scale: float = arg(1.0, help="scale of the projected update")
    galore_proj_type: Literal["std", "reverse_std", "right", "left", "full"] = arg(
        "std", help="which side of the gradient is projected (galore-torch's proj_type)"
    )
    galore_optim_per_parameter: bool = arg(
        False, help="one optimizer per parameter, stepped as its gradient arrives: saves memory; no clipping"
    )
    galore_with_embedding: bool = arg(False, help="also project the input and output embeddings")
    galore_quantization: bool = arg(
        False, help="Q-GaLore: quantized weights and projections", unsupported=_QGALORE
    )
    galore_proj_quant: bool = arg(
        False, help="Q-GaLore: quantize the projection matrices", unsupported=_QGALORE
    )
    galore_proj_bits: int = arg(4, help="Q-GaLore: bits of the quantized projection", unsupported=_QGALORE)
    galore_proj_group_size: int = arg(
        256, help="Q-GaLore: group size of that quantization", unsupported=_QGALORE
    )
    galore_cos_threshold: float = arg(
        0.4, help="Q-GaLore: cosine similarity above which the projection is kept", unsupported=_QGALORE
    )
    galore_gamma_proj: int = arg(
        2, help="Q-GaLore: factor stretching the update interval of a stable projection", unsupported=_QGALORE
    )
    galore_queue_size: int = arg(
        5, help="Q-GaLore: projections remembered for that similarity", unsupported=_QGALORE
    )

    def __post_init__(self) -> None:
        for name in ("galore_rank", "galore_update_proj_gap"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="galore",
            summary="Full fine-tuning with GaLore's low-rank gradient projection (galore-torch)",
            args=GaloreArguments,
            factory="tunekite_galore.tuner:prepare",
            optimizer="tunekite_galore.tuner:galore_optimizer",
            learning_rate=1e-5,
            rejects=tuple(
                (name, "GaLore trains every weight; name the projected ones with --galore_target_modules")
                for name in ("target_modules", "target_regex", "modules_to_save")
            ),
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "galore_torch")
"""What the tuner imports; `tk plugins` says so when absent."""
