"""Registers the `lisa` and `llamapro` tuners and LISA's layer-switching callback. Light on
purpose: torch and transformers are imported only by the factories and the callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunekite.api import TunerSpec, arg, hookimpl

_WHOLE_LAYERS = "trains whole decoder layers, not named modules"


@dataclass(kw_only=True)
class LisaArguments:
    """LISA's arguments, with ms-swift 3.x names. ms-swift's `lisa_activated_layers` defaults
    to 0 (LISA off, on its `full` tuner); here choosing `--tuner lisa` turns it on, so the
    default is the 2 layers ms-swift recommends."""

    lisa_activated_layers: int = arg(2, help="decoder layers trainable at a time, drawn at random")
    lisa_step_interval: int = arg(20, help="optimizer steps between two draws of the trainable layers")

    def __post_init__(self) -> None:
        for name in ("lisa_activated_layers", "lisa_step_interval"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


@dataclass(kw_only=True)
class LlamaProArguments:
    """LLaMA-Pro's arguments, with ms-swift 3.x names and defaults."""

    llamapro_num_new_blocks: int = arg(4, help="decoder blocks added; only they are trained")
    llamapro_num_groups: int | None = arg(
        None, help="groups of layers each followed by new blocks; None: one group per new block"
    )

    def __post_init__(self) -> None:
        groups = self.llamapro_num_groups or self.llamapro_num_new_blocks
        if self.llamapro_num_new_blocks < 1 or groups < 1:
            raise ValueError("llamapro_num_new_blocks and llamapro_num_groups must be at least 1")
        if self.llamapro_num_new_blocks % groups:
            raise ValueError(
                f"llamapro_num_new_blocks ({self.llamapro_num_new_blocks}) must be a multiple of "
                f"llamapro_num_groups ({groups}): each group gets the same number of new blocks"
            )


def _rejects(tuner: str) -> tuple[tuple[str, str], ...]:
    return tuple(
        (name, f"{tuner} {_WHOLE_LAYERS}") for name in ("target_modules", "target_regex", "modules_to_save")
    )


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="lisa",
            summary="LISA: full fine-tuning of a few decoder layers at a time, redrawn every interval",
            args=LisaArguments,
            factory="tunekite_layerwise.lisa:prepare",
            learning_rate=1e-5,
            rejects=_rejects("lisa"),
        )
    )
    register(
        TunerSpec(
            name="llamapro",
            summary="LLaMA-Pro: new zero-initialised decoder blocks, only they trained",
            args=LlamaProArguments,
            factory="tunekite_layerwise.llamapro:prepare",
            rejects=_rejects("llamapro"),
        )
    )


@hookimpl
def tk_train_callbacks(run: Any) -> list[Any] | None:
    """LISA redraws its trainable layers every `lisa_step_interval` steps."""
    tuners = run.components.get("tuners") or []
    lisa = next((spec for spec in tuners if spec.name == "lisa"), None)
    if lisa is None:
        return None
    from tunekite_layerwise.lisa import LayerSwitch

    args = run.component_args(lisa)
    return [LayerSwitch(args.lisa_activated_layers, args.lisa_step_interval, seed=run.seed)]


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers")
"""What the tuners import (`tunekite[train]`); `tk plugins` says so when absent."""
