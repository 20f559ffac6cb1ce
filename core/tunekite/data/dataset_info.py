"""`--custom_dataset_info`: ms-swift's dataset_info.json, registering extra dataset names.

The file is a list of entries such as::

    [{"dataset_path": "data/train.jsonl", "columns": {"problem": "query"}},
     {"hf_dataset_id": "org/name", "subsets": ["v1", {"subset": "v2", "split": ["test"]}]},
     {"dataset_name": "mine", "dataset_path": "folder/"}]

Each entry is reachable by its `dataset_name`, `ms_dataset_id`, `hf_dataset_id` and
`dataset_path` (as written). A relative `dataset_path` is relative to the json file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunekite.data.errors import DatasetError

_SOURCES = ("dataset_path", "hf_dataset_id", "ms_dataset_id")


@dataclass(frozen=True)
class SubsetInfo:
    """One declared subset: its hub config name, column renames and splits."""

    name: str
    columns: dict[str, str] = field(default_factory=dict)
    split: tuple[str, ...] = ("train",)


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset_info.json entry, with `dataset_path` made absolute."""

    origin: str
    dataset_path: str | None = None
    hf_dataset_id: str | None = None
    ms_dataset_id: str | None = None
    subsets: tuple[SubsetInfo, ...] = ()
    columns: dict[str, str] = field(default_factory=dict)
    split: tuple[str, ...] = ("train",)


def _strings(value: Any, what: str, origin: str) -> tuple[str, ...]:
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DatasetError(f"{origin}: {what} must be a string or a list of strings")
    return tuple(value)


def _columns(value: Any, origin: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise DatasetError(f"{origin}: columns must map old column names to new ones")
    return dict(value)


def _subset(value: Any, split: tuple[str, ...], origin: str) -> SubsetInfo:
    if isinstance(value, str):
        return SubsetInfo(value, {}, split)
    if isinstance(value, dict) and isinstance(value.get("subset", value.get("name")), str):
        own_split = _strings(value["split"], "split", origin) if "split" in value else split
        return SubsetInfo(
            value.get("subset", value.get("name")), _columns(value.get("columns"), origin), own_split
        )
    raise DatasetError(
        f"{origin}: a subset must be a name or {{'subset': name, 'columns': ..., 'split': ...}}"
    )


def _entry(raw: Any, origin: str, base: Path) -> tuple[list[str], DatasetInfo]:
    if not isinstance(raw, dict) or not any(raw.get(k) for k in _SOURCES):
        raise DatasetError(f"{origin}: an entry needs one of {', '.join(_SOURCES)}")
    split = _strings(raw.get("split", "train"), "split", origin)
    path = raw.get("dataset_path")
    info = DatasetInfo(
        origin=origin,
        dataset_path=str((base / Path(path).expanduser()).resolve()) if path else None,
        hf_dataset_id=raw.get("hf_dataset_id"),
        ms_dataset_id=raw.get("ms_dataset_id"),
        subsets=tuple(_subset(s, split, origin) for s in raw.get("subsets") or ()),
        columns=_columns(raw.get("columns"), origin),
        split=split,
    )
    names = [raw[k] for k in ("dataset_name", *_SOURCES) if isinstance(raw.get(k), str) and raw[k]]
    return names, info


def load_dataset_info(sources: Iterable[str]) -> dict[str, DatasetInfo]:
    """Read `--custom_dataset_info` files (or inline JSON) into a name -> entry map."""
    found: dict[str, DatasetInfo] = {}
    for source in sources:
        path = Path(source).expanduser()
        if path.is_file():
            text, base = path.read_text(encoding="utf-8"), path.resolve().parent
        elif source.lstrip().startswith(("[", "{")):
            text, base, path = source, Path.cwd(), Path("<inline --custom_dataset_info>")
        else:
            raise DatasetError(f"--custom_dataset_info: file not found: {source}")
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON ({exc})") from None
        entries = [entries] if isinstance(entries, dict) else entries
        if not isinstance(entries, list):
            raise DatasetError(f"{path}: expected a list of dataset entries")
        for i, raw in enumerate(entries, 1):
            names, info = _entry(raw, f"{path}, entry {i}", base)
            found.update(dict.fromkeys(names, info))
    return found
