"""`tk run export --adapters CKPT --merge_lora true`: a standalone transformers folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from tunekite.errors import ArgumentError
from tunekite.tasks.loading import load_for_inference


def export(run: Any) -> int:
    adapters = run.groups["tuner"].adapters
    if not run.merge_lora:
        raise ArgumentError("tk run export: nothing to do; pass --merge_lora true (with --adapters)")
    if not adapters:
        raise ArgumentError("--merge_lora needs --adapters CHECKPOINT to merge")
    target = Path(run.merged_dir) if run.merged_dir else Path(f"{adapters[0].rstrip('/')}-merged")
    model, tokenizer, _ = load_for_inference(run, merge=True)
    staging = target.with_name(f".{target.name}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(
        staging, safe_serialization=run.safe_serialization, max_shard_size=run.max_shard_size
    )
    tokenizer.save_pretrained(staging)
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    print(f"merged model: {target}")
    return 0
