"""`--packing true`: encoded samples packed into rows of at most `max_length` tokens.

Each packed row concatenates its samples' `input_ids`, `labels` and `loss_scale` and
carries `position_ids` that restart at 0 for every sample. With no attention mask,
transformers reads the restarts as sample boundaries and keeps attention inside each
sample (see `tunekite.data.collate.PaddingFreeCollator`), so a packed row trains
exactly like its samples one by one, without the padding a batch of them would need.

Rows are filled by best-fit decreasing over the lengths, which needs no dependency
(ms-swift uses the `binpacking` package) and is fast: open rows are bucketed by their
free space, so placing a sample is a bisect over at most `max_length` distinct values.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunekite.constants import IGNORE_INDEX
from tunekite.data.errors import DatasetError


@dataclass(frozen=True)
class PackingReport:
    """How well the samples filled the rows: the share of real tokens in rows × max_length."""

    samples: int
    rows: int
    tokens: int
    max_length: int

    @property
    def efficiency(self) -> float:
        return self.tokens / (self.rows * self.max_length) if self.rows else 0.0

    def __str__(self) -> str:
        return (
            f"packing: {self.samples} samples into {self.rows} rows of at most {self.max_length} tokens, "
            f"efficiency {self.efficiency:.1%} ({self.tokens} real tokens)"
        )


def pack_lengths(lengths: Sequence[int], max_length: int, *, seed: int = 42) -> list[list[int]]:
    """Sample indices grouped into rows whose lengths sum to at most `max_length`.

    Best-fit decreasing: longest samples first, each into the open row it fills the
    most tightly. The seed orders equal-length samples and the returned rows, so the
    result is the same for a seed and the rows do not run from long to short.
    A sample longer than `max_length` is an error: truncation should have handled it.
    """
    import numpy as np

    if max_length < 1:
        raise DatasetError(f"packing: max_length must be positive, got {max_length}")
    sizes = np.asarray(lengths, dtype=np.int64).reshape(-1)
    over = np.flatnonzero(sizes > max_length)
    if over.size:
        i = int(over[0])
        raise DatasetError(
            f"packing: sample {i} has {int(sizes[i])} tokens, more than max_length {max_length} "
            f"({over.size} such samples); set --max_length and --truncation_strategy so that "
            "encoding drops or truncates them"
        )
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(sizes.size)
    order = shuffled[np.argsort(-sizes[shuffled], kind="stable")]
    rows: list[list[int]] = []
    free_values: list[int] = []  # sorted distinct free space of open rows
    rows_by_free: dict[int, list[int]] = {}
    for index, size in zip(order.tolist(), sizes[order].tolist(), strict=True):
        at = bisect.bisect_left(free_values, size)
        if at == len(free_values):
            row = len(rows)
            rows.append([index])
            free = max_length - size
        else:
            free = free_values[at]
            bucket = rows_by_free[free]
            row = bucket.pop()
            if not bucket:
                del rows_by_free[free]
                free_values.pop(at)
            rows[row].append(index)
            free -= size
        if free:
            if free not in rows_by_free:
                rows_by_free[free] = []
                bisect.insort(free_values, free)
            rows_by_free[free].append(row)
    return [rows[i] for i in rng.permutation(len(rows)).tolist()]


def pack_samples(
    samples: Sequence[Mapping[str, Any]], max_length: int, *, seed: int = 42
) -> tuple[list[dict[str, Any]], PackingReport]:
    """Encoded samples (`Template.encode` dicts) packed into rows, with the packing report."""
    groups = pack_lengths([len(s["input_ids"]) for s in samples], max_length, seed=seed)
    rows = [_concat([samples[i] for i in group]) for group in groups]
    return rows, _report(len(samples), rows, max_length)


def pack_dataset(
    dataset: Any, max_length: int, *, seed: int = 42, num_proc: int = 1, batch_size: int = 1000
) -> tuple[Any, PackingReport]:
    """A `datasets.Dataset` of encoded samples packed into a new Dataset of rows.

    The lengths come from the `length` column, so only the packing itself reads the
    token columns, a batch of rows at a time (in `num_proc` processes when > 1).
    """
    import datasets
    import numpy as np

    lengths = np.asarray(dataset.with_format("numpy")["length"])
    groups = pack_lengths(lengths, max_length, seed=seed)
    packed = datasets.Dataset.from_dict({"members": groups}).map(
        _PackBatch(dataset),
        batched=True,
        batch_size=batch_size,
        num_proc=num_proc if num_proc > 1 else None,
        remove_columns=["members"],
        load_from_cache_file=False,
        desc="Packing",
    )
    tokens = int(lengths.sum())
    return packed, PackingReport(len(dataset), len(packed), tokens, max_length)


class _PackBatch:
    """A picklable `datasets.map` function: member indices in, packed columns out.

    Works on Arrow arrays (a gather, one label fix-up and new list offsets) rather than
    Python lists, which would build and drop an object for every token.
    """

    def __init__(self, source: Any) -> None:
        self.source = source.select_columns(["input_ids", "labels", "loss_scale"]).with_format("arrow")

    def __call__(self, batch: dict[str, list[list[int]]]) -> Any:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        members = batch["members"]
        table = self.source[[i for group in members for i in group]]
        sizes = pc.list_value_length(table.column("input_ids")).to_numpy(zero_copy_only=False)
        row_ends = np.cumsum(sizes)[np.cumsum([len(group) for group in members]) - 1]
        offsets = pa.array(np.concatenate([[0], row_ends]), pa.int32())
        starts = (np.cumsum(sizes) - sizes)[sizes > 0]
        columns = {}
        for name, first in (("input_ids", None), ("labels", IGNORE_INDEX), ("loss_scale", 0.0)):
            values = table.column(name).combine_chunks().flatten()
            if first is not None:
                array = values.to_numpy(zero_copy_only=False).copy()
                array[starts] = first
                values = pa.array(array, values.type)
            columns[name] = pa.ListArray.from_arrays(offsets, values)
        positions = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        columns["position_ids"] = pa.ListArray.from_arrays(offsets, pa.array(positions, pa.int64()))
        columns["length"] = pa.array(np.diff(offsets.to_numpy()), pa.int64())
        return pa.table(columns)


def _concat(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One packed row; each sample's first label is ignored, as its token has no prediction
    inside the sample (the model would otherwise learn it from the previous sample's end)."""
    input_ids: list[int] = []
    labels: list[int] = []
    loss_scale: list[float] = []
    position_ids: list[int] = []
    for sample in samples:
        size = len(sample["input_ids"])
        if not size:
            continue
        input_ids += sample["input_ids"]
        labels.append(IGNORE_INDEX)
        labels += sample["labels"][1:]
        loss_scale.append(0.0)
        loss_scale += sample["loss_scale"][1:]
        position_ids += range(size)
    return {
        "input_ids": input_ids,
        "labels": labels,
        "loss_scale": loss_scale,
        "position_ids": position_ids,
        "length": len(input_ids),
    }


def _report(samples: int, rows: Sequence[Mapping[str, Any]], max_length: int) -> PackingReport:
    return PackingReport(samples, len(rows), sum(row["length"] for row in rows), max_length)
