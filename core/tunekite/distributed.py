"""Several processes and machines: running `tk` under torchrun when `NPROC_PER_NODE`/`NNODES`
ask for it (as ms-swift does), the process group every rank joins before the run folder is chosen,
and the few collective steps TuneKite's own code needs (rank 0 decides, the others follow).

Everything here is a no-op in a single process, and imports torch only inside a
distributed run, so light commands stay light.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from tunekite.errors import ArgumentError, TunekiteError

T = TypeVar("T")

TORCHRUN_ENV = ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT")
"""ms-swift's launch variables, each passed to torchrun as `--<name lowercased>`."""


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    """Rank 0, the one process that writes the run's own files (args.json, manifest, logs)."""
    return rank() == 0


def torchrun_options(argv: Sequence[str], env: dict[str, str] | None = None) -> list[str] | None:
    """torchrun's arguments for running `tk <argv>` as `NPROC_PER_NODE`/`NNODES` ask (as
    `python -m torch.distributed.run OPTIONS`); None when they do not, or when this
    process is already a torchrun worker."""
    env = os.environ if env is None else env
    if "LOCAL_RANK" in env or not any(env.get(name) for name in ("NPROC_PER_NODE", "NNODES")):
        return None
    options = [f"--{name.lower()}={env[name]}" for name in TORCHRUN_ENV if env.get(name)]
    if "NNODES" not in env and "MASTER_PORT" not in env:
        options.append("--standalone")  # one machine: a free port, no fixed rendezvous
    return [*options, "-m", "tunekite", *argv]


def run_under_torchrun(argv: Sequence[str], requested_backend: str | None) -> None:
    """Run the same `tk` command under torchrun, when asked for, and exit with its status;
    a backend this machine cannot use is refused here, once, not by every rank. A rank's
    failure was said by that rank: torchrun's own report of it is left out."""
    options = torchrun_options(argv)
    if options is None:
        return
    backend_for(requested_backend)
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    print(f"Running under torchrun: python -m torch.distributed.run {' '.join(options)}", file=sys.stderr)
    try:
        run(parse_args(options))
    except ChildFailedError as exc:
        _, failure = exc.get_first_failure()
        raise SystemExit(failure.exitcode if failure.exitcode > 0 else 1) from None
    raise SystemExit(0)


def backend_for(requested: str | None) -> str:
    """The process-group backend: `--ddp_backend`, else nccl with CUDA and gloo without;
    nccl without CUDA is refused."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "nccl" and not cuda:
        raise ArgumentError("--ddp_backend nccl needs CUDA GPUs; on CPU use --ddp_backend gloo (the default)")
    return requested or ("nccl" if cuda else "gloo")


def init_process_group(requested_backend: str | None, timeout_s: int) -> None:
    """Join the process group before anything is written, so that rank 0 can hand the run
    folder to the others; transformers and accelerate then use this group. `--ddp_backend
    nccl` without CUDA is refused even in one process: it would fail on the first launch."""
    if requested_backend == "nccl" or world_size() > 1:
        backend = backend_for(requested_backend)
    if world_size() <= 1:
        return
    import datetime

    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))


def _group() -> Any:
    """torch.distributed when this process is one rank of several, else None."""
    if world_size() <= 1:
        return None
    import torch.distributed as dist

    return dist if dist.is_initialized() else None


def barrier() -> None:
    """Wait for every rank (a no-op in one process)."""
    dist = _group()
    if dist is not None:
        dist.barrier()


def close_process_group() -> None:
    """Once every rank has finished, destroy the group before the interpreter exits. Left to
    interpreter teardown, a rank of a finished DeepSpeed ZeRO-2 run on gloo sometimes
    aborted ("terminate called without an active exception", exit -6), failing a run
    whose training and checkpoints were complete."""
    dist = _group()
    if dist is not None:
        dist.barrier()
        dist.destroy_process_group()


def from_main(decide: Callable[[], T]) -> T:
    """`decide()` run on rank 0 alone, its result handed to every rank. When rank 0 fails
    with a user error, it raises it and every other rank exits quietly with its code,
    so the error is said once."""
    dist = _group()
    if dist is None:
        return decide()
    box: list[Any] = [None]
    if dist.get_rank() == 0:
        try:
            box[0] = ("ok", decide())
        except TunekiteError as exc:
            dist.broadcast_object_list([("error", exc.exit_code)], src=0)
            raise
        except BaseException:
            dist.broadcast_object_list([("error", 1)], src=0)
            raise
        dist.broadcast_object_list(box, src=0)
        return box[0][1]
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]
    if status == "error":
        raise SystemExit(value)
    return value


@contextmanager
def local_main_first() -> Iterator[bool]:
    """The body runs on each machine's first rank (LOCAL_RANK 0) before the others start
    it; yields whether this process goes first. When the first fails, the others are
    left waiting for torchrun to stop them: its error is said once."""
    first = int(os.environ.get("LOCAL_RANK", "0")) == 0
    if not first:
        barrier()
    yield first
    if first:
        barrier()
