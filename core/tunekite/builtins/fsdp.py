"""`--fsdp` / `--fsdp_config`: PyTorch FSDP through transformers and accelerate, spelled as
transformers spells them (`--fsdp "full_shard auto_wrap"`, `--fsdp_config file.json`).
Built in: it needs nothing beyond accelerate, which training already brings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunekite.errors import ArgumentError


def fsdp_config(value: str) -> dict[str, Any]:
    """`--fsdp_config`: a JSON file, or a JSON object given inline."""
    text = value if value.lstrip().startswith("{") else None
    if text is None:
        path = Path(value)
        if not path.is_file():
            raise ArgumentError(f"--fsdp_config {value}: no such file (give a JSON file or a JSON object)")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ArgumentError(f"--fsdp_config {value}: cannot read it ({exc})") from None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ArgumentError(f"--fsdp_config {value}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ArgumentError(f"--fsdp_config {value}: FSDP settings are a JSON object")
    return config


def fsdp_fields(run: Any, *, cuda: bool) -> dict[str, Any]:
    """`TrainingArguments(fsdp=..., fsdp_config=...)`. Without CUDA the run is refused:
    accelerate (1.15) applies FSDP only to GPU-type processes and would silently train an
    unsharded DDP run on CPU."""
    if not run.fsdp:
        raise ArgumentError(
            "--fsdp_config is read with --fsdp; add --fsdp, e.g. --fsdp 'full_shard auto_wrap'"
        )
    fields: dict[str, Any] = {"fsdp": run.fsdp}
    if run.fsdp_config is not None:
        fields["fsdp_config"] = fsdp_config(run.fsdp_config)
    if not cuda:
        raise ArgumentError(
            "--fsdp needs GPUs: accelerate shards with FSDP only on GPU-type devices, and on this "
            "CPU-only machine would train an unsharded DDP run instead; use --deepspeed zero3 to shard on CPU"
        )
    return fields


def training_fields(_args: Any, run: Any) -> dict[str, Any]:
    """The parallelism factory (and its `before_model` check): `fsdp_fields` for this machine."""
    import torch

    return fsdp_fields(run, cuda=torch.cuda.is_available())
