"""`--resume`: each finished batch of prompts is appended to `.<output_file>.partial` next
to the output (one line per batch: its prompt ids and its rows), so a run that stops loses
at most the batch in progress. `--resume true` takes the finished batches from there and
samples the rest; the output file itself is still written once, when every batch is done,
and the partial file is then removed."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError

Batch = tuple[str, ...]
"""A batch, named by its prompts' ids in order."""


def partial_path(target: Path) -> Path:
    return target.with_name(f".{target.name}.partial")


def finished_batches(
    target: Path, resume: bool, batches: Sequence[Batch]
) -> dict[Batch, list[dict[str, Any]]]:
    """The rows of the batches an interrupted run finished; {} when there is none. Its file
    is rewritten without a last line the run was writing when it stopped."""
    partial = partial_path(target)
    if not partial.exists():
        return {}
    if not resume:
        raise ArgumentError(
            f"{partial} holds the finished batches of an interrupted run: --resume true continues it; "
            "delete it to start over"
        )
    lines = partial.read_text(encoding="utf-8").splitlines()
    done: dict[Batch, list[dict[str, Any]]] = {}
    for number, line in enumerate(lines, 1):
        try:
            entry = json.loads(line)
            done[tuple(entry["prompts"])] = list(entry["rows"])
        except (json.JSONDecodeError, KeyError, TypeError):
            if number == len(lines):  # cut short when the run stopped
                break
            raise ArgumentError(f"{partial}, line {number}: not a batch record of `tk run sample`") from None
    strangers = set(done) - set(batches)
    if strangers:
        raise ArgumentError(
            f"{partial} holds {len(strangers)} batch(es) this run would not sample (another --dataset, "
            "--data_range or --num_sampling_per_gpu_batch_size?); delete it to start over"
        )
    record(partial, done.items(), mode="w")
    return done


def record(partial: Path, batches: Any, mode: str = "a") -> None:
    """Append (or write) `(batch, rows)` pairs, each one line, on disk before returning."""
    partial.parent.mkdir(parents=True, exist_ok=True)
    with partial.open(mode, encoding="utf-8") as out:
        for batch, rows in batches:
            out.write(json.dumps({"prompts": list(batch), "rows": rows}, ensure_ascii=False) + "\n")
        out.flush()
        os.fsync(out.fileno())
