"""The start-up line that says which precision a run trains in, and whether this CPU runs
bf16 natively.

bf16 pays on a CPU with AVX-512 BF16 or AMX (matrix products at about twice the fp32
rate); without them oneDNN emulates it and a bf16 run is slower than fp32, so the line
says so instead of leaving a user to find out from the step times.
"""

from __future__ import annotations

from typing import Any


def native_cpu_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (`avx512_bf16` or AMX in
    /proc/cpuinfo's flags), as torch's own CPU capability checks see them."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def describe_precision(model: Any, args: Any) -> str:
    """E.g. `bf16 autocast, weights float32 (trained: float32)` for `model` trained with
    transformers `TrainingArguments` `args`; with a note when bf16 runs on a CPU without
    native bf16."""
    import torch

    bf16, fp16, on_cpu = bool(args.bf16), bool(args.fp16), args.device.type == "cpu"
    weights = {p.dtype for p in model.parameters()}
    trained = {p.dtype for p in model.parameters() if p.requires_grad}

    def names(dtypes: set) -> str:
        return "/".join(sorted(str(d).removeprefix("torch.") for d in dtypes)) or "none"

    mode = "bf16 autocast" if bf16 else "fp16 autocast" if fp16 else "no autocast"
    line = f"{mode}, weights {names(weights)} (trained: {names(trained)})"
    half = bf16 or torch.bfloat16 in weights
    if on_cpu and half and not native_cpu_bf16():
        line += "; this CPU has no native bf16 (no avx512_bf16/amx): expect it slower than float32"
    return line
