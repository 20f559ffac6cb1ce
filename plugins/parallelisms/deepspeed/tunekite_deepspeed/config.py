"""`--deepspeed NAME|PATH` into the DeepSpeed config transformers takes: a bundled preset or
the user's JSON, checked against what this machine can run, with `auto` values left for
transformers to fill from the training arguments."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError

CONFIGS = Path(__file__).parent / "configs"
PRESETS = tuple(sorted(p.stem for p in CONFIGS.glob("*.json")))


def load_config(value: str) -> dict[str, Any]:
    """The preset named `value`, or the JSON file at that path."""
    path = CONFIGS / f"{value}.json" if value in PRESETS else Path(value)
    if not path.is_file():
        raise ArgumentError(f"--deepspeed {value}: neither a preset ({', '.join(PRESETS)}) nor a JSON file")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArgumentError(f"--deepspeed {path}: not a readable JSON file ({exc})") from None
    if not isinstance(config, dict):
        raise ArgumentError(f"--deepspeed {path}: a DeepSpeed config is a JSON object")
    return config


def stage(config: dict[str, Any]) -> int:
    return int(config.get("zero_optimization", {}).get("stage", 0))


def resolved_config(args: Any, run: Any, *, cuda: bool) -> dict[str, Any]:
    """The run's DeepSpeed config: `--zero_hpz_partition_size` applied, checkpoints that load
    without DeepSpeed, and on a machine without CUDA, the GPU-only parts refused."""
    value = run.deepspeed
    config = load_config(value)
    zero = config.setdefault("zero_optimization", {})
    if not cuda:
        offloaded = [
            k
            for k in ("offload_optimizer", "offload_param")
            if zero.get(k, {}).get("device", "none") != "none"
        ]
        if offloaded:
            raise ArgumentError(
                f"--deepspeed {value}: offloading ({' and '.join(offloaded)}) moves training state out of "
                "GPU memory and its CPU-Adam kernels need CUDA; on this CPU-only machine it is all in CPU "
                "memory already: use zero2 or zero3"
            )
    if args.zero_hpz_partition_size is not None:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if stage(config) != 3:
            raise ArgumentError(
                f"--zero_hpz_partition_size: ZeRO++ hierarchical partitioning is a ZeRO-3 feature; "
                f"--deepspeed {value} is stage {stage(config)}"
            )
        if args.zero_hpz_partition_size < 1 or world % args.zero_hpz_partition_size:
            raise ArgumentError(
                f"--zero_hpz_partition_size {args.zero_hpz_partition_size}: must divide the "
                f"{world} ranks of this run"
            )
        zero["zero_hpz_partition_size"] = args.zero_hpz_partition_size
    if stage(config) == 3:
        gather = "stage3_gather_16bit_weights_on_model_save"
        if zero.get(gather) is False:
            raise ArgumentError(
                f"--deepspeed {value}: {gather} is false, so checkpoints would hold no weights that "
                "load without DeepSpeed; set it true"
            )
        zero[gather] = True
    return config


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _backend(run: Any, cuda: bool) -> str | None:
    """The process-group backend: gloo without CUDA (nccl needs GPUs)."""
    if cuda:
        return run.ddp_backend
    if run.ddp_backend not in (None, "gloo"):
        raise ArgumentError(
            f"--ddp_backend {run.ddp_backend} needs GPUs or their vendor's library; "
            "on this CPU-only machine DeepSpeed runs over gloo (drop --ddp_backend or pass gloo)"
        )
    return "gloo"


def before_model(args: Any, run: Any) -> None:
    """Check the config, then start DeepSpeed's process group before the model loads: ZeRO-3
    partitions the weights over it as they load. Without CUDA, DeepSpeed runs on its CPU
    accelerator over gloo; a single process (no torchrun) is a group of one."""
    cuda = _cuda()
    resolved_config(args, run, cuda=cuda)
    if not cuda:
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    if "WORLD_SIZE" not in os.environ:
        os.environ.update(RANK="0", LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    import deepspeed

    deepspeed.init_distributed(dist_backend=_backend(run, cuda), auto_mpi_discovery=False)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def training_fields(args: Any, run: Any) -> dict[str, Any]:
    """`TrainingArguments(deepspeed=config)`: transformers fills the `auto` values (batch
    sizes, learning rate, clipping, precision) from the run's own arguments."""
    cuda = _cuda()
    fields: dict[str, Any] = {"deepspeed": resolved_config(args, run, cuda=cuda)}
    if not cuda:
        fields["ddp_backend"] = _backend(run, cuda)
    return fields
