"""Registers the `deepspeed` parallelism. Light on purpose: deepspeed is imported only when
a run selects it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import ParallelismSpec, arg, hookimpl

TUNEKITE_REQUIRES = {"deepspeed": "tunekite-deepspeed"}


@dataclass(kw_only=True)
class DeepSpeedArguments:
    """DeepSpeed's own arguments, with ms-swift's names; `--deepspeed` itself is core's."""

    zero_hpz_partition_size: int | None = arg(
        None,
        help="ZeRO++ hierarchical partitioning (ZeRO-3): shard the model within groups of this many ranks",
    )


@hookimpl
def tk_register_parallelisms(register: Callable[[ParallelismSpec], None]) -> None:
    register(
        ParallelismSpec(
            name="deepspeed",
            summary="DeepSpeed ZeRO stages 0-3: optimizer, gradient and parameter sharding",
            args=DeepSpeedArguments,
            factory="tunekite_deepspeed.config:training_fields",
            before_model="tunekite_deepspeed.config:before_model",
        )
    )
