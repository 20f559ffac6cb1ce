"""`memory(GiB)` in every training log on a CUDA device, the figure ms-swift users read
there: the most memory torch's caching allocator has reserved so far on the devices that
hold the model (its own device under DDP, all of them under a `device_map` split). Only
those devices are asked, because asking another one would open a CUDA context on it.
On a CPU nothing is added (ms-swift adds nothing there either)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback


class PeakMemoryLog(TrainerCallback):
    def on_log(
        self,
        args: Any,
        state: Any,
        control: Any,
        logs: dict[str, Any] | None = None,
        model: Any = None,
        **_: Any,
    ) -> None:
        if logs is None or model is None:
            return
        gib = peak_reserved_gib(model)
        if gib is not None:
            logs["memory(GiB)"] = gib


def peak_reserved_gib(model: Any) -> float | None:
    """The peak reserved GiB over `model`'s CUDA devices, or None when it has none."""
    import torch

    devices = {p.device for p in model.parameters() if p.device.type == "cuda"}
    if not devices:
        return None
    return round(max(torch.cuda.max_memory_reserved(d) for d in devices) / 2**30, 2)
