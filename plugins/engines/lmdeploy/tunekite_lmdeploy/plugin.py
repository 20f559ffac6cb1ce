"""Registers the `lmdeploy` engine. Light on purpose: LMDeploy is imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import EngineSpec, arg, hookimpl

QUANT_POLICIES = (0, 4, 8)


@dataclass(kw_only=True)
class LmdeployArguments:
    """LMDeploy's own arguments, with ms-swift 3.x names and defaults."""

    tp: int = arg(1, help="tensor parallel degree (GPUs per model)")
    session_len: int | None = arg(None, help="longest session (prompt + reply) in tokens; None: the model's")
    cache_max_entry_count: float = arg(0.8, help="share of free GPU memory the KV cache takes")
    quant_policy: int = arg(0, help="KV cache quantization: 0 off, 4 int4, 8 int8")
    vision_batch_size: int = arg(1, help="images the vision encoder of a multimodal model takes at once")

    def __post_init__(self) -> None:
        if self.tp < 1:
            raise ValueError(f"tp must be at least 1, got {self.tp}")
        if self.session_len is not None and self.session_len < 1:
            raise ValueError(f"session_len must be at least 1, got {self.session_len}")
        if not 0 < self.cache_max_entry_count <= 1:
            raise ValueError(f"cache_max_entry_count must be in (0, 1], got {self.cache_max_entry_count}")
        if self.quant_policy not in QUANT_POLICIES:
            raise ValueError(f"quant_policy must be one of {QUANT_POLICIES}, got {self.quant_policy}")
        if self.vision_batch_size < 1:
            raise ValueError(f"vision_batch_size must be at least 1, got {self.vision_batch_size}")


@hookimpl
def tk_register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(
        EngineSpec(
            name="lmdeploy",
            summary="LMDeploy pipeline: TurboMind, or its PyTorch engine for LoRA (CUDA only)",
            args=LmdeployArguments,
            factory="tunekite_lmdeploy.engine:build",
            loads_model=True,
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("lmdeploy",)
"""Installed by this distribution's `cuda` extra; `tk plugins` says so when absent."""
