"""The task-specific argument groups, with ms-swift 3.x names and defaults."""

from __future__ import annotations

from dataclasses import dataclass

from tunekite.arguments.fields import arg


@dataclass(kw_only=True)
class InferArguments:
    """`tk run infer`: which engine, how many prompts at once, where results go."""

    infer_backend: str = arg("pt", selects="engines", help="inference engine: pt, or an installed plugin's")
    max_batch_size: int = arg(1, help="prompts generated together by the pt engine")
    result_path: str | None = arg(
        None, help="jsonl of batch results; None writes <output folder>/infer_result/<time>.jsonl"
    )
    merge_lora: bool = arg(False, help="merge the LoRA adapters into the model before inferring")


@dataclass(kw_only=True)
class ExportArguments:
    """`tk run export`: merge adapters into a standalone model folder."""

    merge_lora: bool = arg(False, help="merge the LoRA adapters into the base model")
    merged_dir: str | None = arg(None, help="where the merged model goes; None is <adapter folder>-merged")
    safe_serialization: bool = arg(True, help="write safetensors (false: pytorch .bin)")
    max_shard_size: str = arg("5GB", help="largest weight file before the model is split in shards")
