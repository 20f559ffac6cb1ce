"""From `--dataset` to training samples: load, encode (now or lazily), pack, report."""

from __future__ import annotations

import logging
from functools import partial
from typing import Any

from tunekite.data.encode import ORIGIN_COLUMN, LazyEncodedDataset, encode_dataset
from tunekite.data.loading import load_datasets
from tunekite.errors import ArgumentError

log = logging.getLogger("tunekite.data")


def prepare_datasets(run: Any, template: Any) -> tuple[Any, Any | None]:
    """The train and validation samples a recipe feeds the trainer.

    `--lazy_tokenize` encodes rows when the trainer reads them; `--packing` packs the
    encoded samples into `max_length` rows (which needs them all encoded up front).
    Rows are encoded before the validation split, so a row too long to keep is never
    the one held out; each keeps its file and line to name it in an encoding error.
    """
    data = run.groups["data"]
    packing = data.packing
    if packing and (data.lazy_tokenize or data.streaming):
        raise ArgumentError("--packing needs every sample encoded up front: drop --lazy_tokenize/--streaming")
    if packing and not template.max_length:
        raise ArgumentError("--packing needs --max_length: the length of each packed row")
    encode = None if data.lazy_tokenize else partial(_encoded, template=template, data=data)
    train, val, _ = load_datasets(
        data,
        max_steps=run.max_steps,
        origin_column=ORIGIN_COLUMN,
        before_split=encode,
        host=run.plugin_host,
    )
    return _samples(train, template, data, "train"), (_samples(val, template, data, "val") if val else None)


def _encoded(rows: Any, text: str, *, template: Any, data: Any) -> Any:
    """One dataset's rows encoded, without those `delete` truncation drops (said so)."""
    samples, dropped = encode_dataset(
        rows, template, num_proc=data.dataset_num_proc, enable_cache=data.enable_cache
    )
    if dropped > 0:
        log.warning(
            "%s: dropped %d row(s) longer than --max_length %s (--truncation_strategy delete)",
            text,
            dropped,
            template.max_length,
        )
    if dropped > 0 and dropped == len(rows):
        raise ArgumentError(f"{text}: every row is longer than --max_length {template.max_length}")
    return samples


def _samples(rows: Any, template: Any, data: Any, split: str) -> Any:
    if data.lazy_tokenize:
        return LazyEncodedDataset(rows, template)
    if not data.packing:
        return rows
    from tunekite.data.packing import pack_dataset

    packed, report = pack_dataset(
        rows, template.max_length, seed=data.data_seed, num_proc=data.dataset_num_proc
    )
    log.warning("%s: %s", split, report)
    return packed
