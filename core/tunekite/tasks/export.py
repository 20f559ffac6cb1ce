"""`tk run export --adapters CKPT --merge_lora true`: the adapter merged into its base model,
written as a standalone transformers folder that `AutoModelForCausalLM` loads."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tunekite.errors import ArgumentError
from tunekite.tasks.loading import (
    apply_adapter,
    checkpoint_args,
    merge_and_save,
    merged_folder,
    with_checkpoint_args,
)

if TYPE_CHECKING:
    from tunekite.launcher import Run


def run(run: Run) -> Path:
    """The `export` task: returns the merged model's folder."""
    from rich.console import Console

    from tunekite.models.loader import load_model

    if not run.merge_lora:
        raise ArgumentError("tk run export: pass --merge_lora true (other exporters come as plugins)")
    if len(run.adapters) != 1:
        raise ArgumentError(f"--merge_lora needs exactly one --adapters CHECKPOINT, got {len(run.adapters)}")
    run = with_checkpoint_args(run)
    target = merged_folder(run.adapters[0], run.groups["common"].output_dir)
    console = Console(stderr=True, highlight=False)
    quantized = checkpoint_args(run.adapters[0]).get("quant_method")
    if quantized:  # export takes no quantization group: the base always loads in full precision
        console.print(f"merging onto the full-precision base (the adapter was trained on a {quantized} base)")
    model, tokenizer = load_model(run)
    merge_and_save(
        apply_adapter(model, run.adapters[0]),
        tokenizer,
        target,
        safe_serialization=run.safe_serialization,
        max_shard_size=run.max_shard_size,
        run=run,
    )
    console.print(f"merged model: {target}")
    return target
