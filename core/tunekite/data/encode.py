"""Conversation rows through a template into training samples, eagerly or on access."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from tunekite.templates.agent import ToolDefinitionError
from tunekite.templates.encoder import SampleColumns, Template, TemplateError

SAMPLE_COLUMNS = ("input_ids", "labels", "loss_scale", "length")
ORIGIN_COLUMN = "_tk_origin"
"""Where each row came from (`data.jsonl, line 3`), to name it when it cannot be encoded."""
_ROW_ERRORS = (TemplateError, ToolDefinitionError)
log = logging.getLogger(__name__)


def _origin(row: Any, index: int) -> str:
    """A row's source file and line when the loader recorded it, else its position."""
    origin = row.get(ORIGIN_COLUMN) if hasattr(row, "get") else None
    return origin or f"dataset row {index + 1}"


class _Encoder:
    """A picklable `datasets.map` function (worker processes get their own copy).

    With `as_table` a batch comes back as one Arrow table built from the template's flat
    arrays: handing `datasets` lists of per-row lists costs it more than the encoding's
    own Python work.
    """

    def __init__(self, template: Template, *, as_table: bool = False) -> None:
        self.template = template
        self.as_table = as_table

    def __call__(self, batch: dict[str, list[Any]], indices: list[int]) -> Any:
        keys = list(batch)
        rows = [dict(zip(keys, values, strict=True)) for values in zip(*batch.values(), strict=True)]
        try:
            if self.as_table:
                return _sample_table(self.template.encode_columns(rows))
            encoded = self.template.encode_batch(rows)
        except _ROW_ERRORS:
            for row, index in zip(rows, indices, strict=True):
                self._one(row, index)  # raises, naming the row
            raise
        kept = [e for e in encoded if e is not None]
        return {column: [e[column] for e in kept] for column in SAMPLE_COLUMNS}

    def _one(self, row: dict[str, Any], index: int) -> None:
        try:
            self.template.encode(row)
        except _ROW_ERRORS as exc:
            raise TemplateError(f"{_origin(row, index)}: {exc}") from None


def encode_dataset(
    dataset: Any, template: Template, *, num_proc: int = 1, enable_cache: bool = False, batch_size: int = 256
) -> tuple[Any, int]:
    """Encode every row; returns the samples and how many rows `delete` truncation dropped.

    A streaming (iterable) dataset is encoded as it is read, so its drop count is unknown
    up front and reported as -1.
    """
    import datasets

    if isinstance(dataset, datasets.IterableDataset):
        encoded = dataset.map(
            _Encoder(template),
            batched=True,
            batch_size=batch_size,
            with_indices=True,
            remove_columns=list(dataset.column_names or []),
        )
        return encoded, -1
    encoded = dataset.map(
        _Encoder(template, as_table=True),
        batched=True,
        batch_size=batch_size,
        with_indices=True,
        num_proc=num_proc if num_proc > 1 else None,
        remove_columns=dataset.column_names,
        features=_sample_features(),
        load_from_cache_file=enable_cache,
        desc="Encoding",
    )
    return encoded, len(dataset) - len(encoded)


def _sample_features() -> Any:
    """The columns' types, as `datasets` would infer them from the first batch (which
    costs a scan of every value in it)."""
    import datasets

    return datasets.Features(
        {
            "input_ids": datasets.List(datasets.Value("int32")),
            "labels": datasets.List(datasets.Value("int64")),
            "loss_scale": datasets.List(datasets.Value("float64")),
            "length": datasets.Value("int64"),
        }
    )


def _sample_table(columns: SampleColumns) -> Any:
    """The samples as an Arrow table of `_sample_features()`: each list column is its rows'
    values in one flat array plus the offsets where each row starts."""
    import numpy as np
    import pyarrow as pa

    offsets = pa.array(np.concatenate(([0], np.cumsum(columns.length))).astype(np.int32))
    schema = _sample_features().arrow_schema
    lists = [
        pa.ListArray.from_arrays(
            offsets, getattr(columns, name).astype(schema.field(name).type.value_type.to_pandas_dtype())
        )
        for name in ("input_ids", "labels", "loss_scale")
    ]
    return pa.Table.from_arrays([*lists, pa.array(columns.length, pa.int64())], schema=schema)


class LazyEncodedDataset:
    """`--lazy_tokenize`: rows are encoded when the trainer asks for them.

    A row that `delete` truncation drops is replaced by the next one (and logged), as
    ms-swift does, because the trainer has already counted the dataset's length.
    """

    def __init__(self, rows: Sequence[Any], template: Template) -> None:
        self.rows = rows
        self.template = template
        self.dropped: set[int] = set()

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, Any]:
        for offset in range(len(self.rows)):
            position = (index + offset) % len(self.rows)
            try:
                sample = self.template.encode(self.rows[position])
            except _ROW_ERRORS as exc:
                raise TemplateError(f"{_origin(self.rows[position], position)}: {exc}") from None
            if sample is not None:
                return sample
            if position not in self.dropped:
                self.dropped.add(position)
                log.warning(
                    "%s is longer than max_length=%s and was replaced by the next row "
                    "(%d dropped so far; see --truncation_strategy)",
                    _origin(self.rows[position], position),
                    self.template.max_length,
                    len(self.dropped),
                )
        raise TemplateError(f"every row is longer than max_length={self.template.max_length}")
