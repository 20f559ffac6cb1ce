"""The `bnb` exporter: the model loaded through bitsandbytes and saved quantized, a folder
that `AutoModelForCausalLM.from_pretrained` loads as 4-bit or 8-bit without any argument."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, staged_into
from tunekite_bnb.plugin import BnbExportArguments
from tunekite_bnb.quantize import BITS, quantized_kwargs


def export(args: BnbExportArguments, run: Any, source: Path) -> Path:
    """Quantize the Hugging Face folder `source` into `run.output_dir`; returns that folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if args.quant_bits not in BITS:
        raise ArgumentError(f"--quant_method bnb: pass --quant_bits 4 or 8 (got {args.quant_bits})")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if "quantization_config" in config:
        raise ArgumentError(f"--quant_method bnb: {source} is already quantized; export from the full model")
    kwargs = quantized_kwargs(args.quant_bits, args, run.groups["model"])
    model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(source)
    with staged_into(run.output_dir) as staging:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
    return run.output_dir
