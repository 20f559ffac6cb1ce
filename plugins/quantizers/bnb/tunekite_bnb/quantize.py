"""ms-swift's bnb arguments onto transformers' `BitsAndBytesConfig`."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError
from tunekite_bnb.plugin import BnbArguments

BITS = (4, 8)


def from_pretrained_kwargs(args: BnbArguments, run: Any) -> dict[str, Any]:
    """`quantization_config` for `--quant_bits 4|8`; without a GPU and without `--device_map`,
    also `device_map="cpu"`, which bitsandbytes' CPU backend needs to quantize the weights."""
    bits = run.groups["quantization"].quant_bits
    if bits not in BITS:
        raise ArgumentError(f"--quant_method bnb: --quant_bits must be 4 or 8, got {bits}")
    trains = getattr(getattr(run, "spec", None), "kind", None) == "trainers"
    if trains and getattr(run.groups.get("tuner"), "tuner", None) == "full":
        raise ArgumentError(
            "--quant_method bnb with --tuner full: quantized weights cannot be trained; "
            "train an adapter on them (--tuner lora, QLoRA) or drop --quant_method"
        )
    return quantized_kwargs(bits, args, run.groups["model"])


def quantized_kwargs(bits: int, args: BnbArguments, model_args: Any) -> dict[str, Any]:
    """`from_pretrained` keyword arguments loading a model in `bits` (4 or 8) with bitsandbytes,
    on the CPU when there is no GPU and no `--device_map` (for QLoRA and for the bnb exporter)."""
    import torch
    from transformers import BitsAndBytesConfig

    if bits == 8:
        config = BitsAndBytesConfig(load_in_8bit=True)
    else:
        compute = args.bnb_4bit_compute_dtype or model_args.torch_dtype or "float32"
        config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_compute_dtype=getattr(torch, compute),
            bnb_4bit_quant_type=args.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=args.bnb_4bit_use_double_quant,
            bnb_4bit_quant_storage=getattr(torch, args.bnb_4bit_quant_storage or "uint8"),
        )
    kwargs: dict[str, Any] = {"quantization_config": config}
    if model_args.device_map is None and not torch.cuda.is_available():
        kwargs["device_map"] = "cpu"
    return kwargs
