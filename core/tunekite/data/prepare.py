"""From `--dataset` to training samples: load, encode (now or lazily), pack, report."""

from __future__ import annotations

import atexit
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any

from tunekite.data.encode import ORIGIN_COLUMN, LazyEncodedDataset, encode_dataset
from tunekite.data.loading import load_datasets
from tunekite.distributed import local_main_first, world_size
from tunekite.errors import ArgumentError

log = logging.getLogger("tunekite.data")


def prepare_datasets(run: Any, template: Any) -> tuple[Any, Any | None]:
    """The train and validation samples a recipe feeds the trainer.

    `--lazy_tokenize` encodes rows when the trainer reads them; `--packing` packs the
    encoded samples into `max_length` rows (which needs them all encoded up front).
    Rows are encoded before the validation split, so a row too long to keep is never
    the one held out; each keeps its file and line to name it in an encoding error.
    Under torchrun the data is encoded once per machine (`_encoded_once`). A `--streaming`
    dataset is sharded by rank when the trainer reads it (see `training_config`).
    """
    data = run.groups["data"]
    if world_size() > 1 and not data.lazy_tokenize and not data.streaming:
        return _encoded_once(run, template)
    return _prepare(run, template)


def _encoded_once(run: Any, template: Any) -> tuple[Any, Any | None]:
    """The first rank of each machine encodes (and packs) the data and saves it as Arrow
    files in a temporary folder named after the run folder; the machine's other ranks
    load those files instead of encoding the data again. Lazy encoding needs none of
    this: each rank encodes only the rows it reads."""
    import hashlib
    import shutil
    import tempfile

    from datasets import load_from_disk

    node = os.environ.get("GROUP_RANK", "0")
    key = hashlib.sha1(str(Path(run.output_dir).resolve()).encode()).hexdigest()[:12]
    folder = Path(tempfile.gettempdir()) / f"tunekite-encoded-{key}-node{node}"
    with local_main_first() as first:
        if first:
            shutil.rmtree(folder, ignore_errors=True)
            train, val = _prepare(run, template)
            train.save_to_disk(str(folder / "train"))
            if val is not None:
                val.save_to_disk(str(folder / "val"))
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
        else:
            train = load_from_disk(str(folder / "train"))
            val = load_from_disk(str(folder / "val")) if (folder / "val").is_dir() else None
    return train, val


def _prepare(run: Any, template: Any) -> tuple[Any, Any | None]:
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
