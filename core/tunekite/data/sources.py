"""Where a `--dataset` value's raw rows come from: local files, registered names, the hub.

Parsing is left to the `datasets` library; this module decides which loader a name
goes to and turns its failures into messages that name the file or dataset. A local
file that `datasets` cannot read whole is read again line by line (`file_lines`), so
that its bad lines are named and, without `--strict`, dropped.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.data.dataset_info import DatasetInfo, SubsetInfo
from tunekite.data.errors import DatasetError
from tunekite.data.file_lines import BadLine, csv_records, json_document, json_lines, nonblank_lines, scan
from tunekite.data.syntax import DatasetSyntax
from tunekite.errors import UnknownNameError

if TYPE_CHECKING:
    from tunekite.arguments.groups import DataArguments
    from tunekite.plugin_host import PluginHost

BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet"}
"""Local file suffixes and the `datasets` builder that reads them."""

_TRUE = {"1", "on", "yes", "true"}


@dataclass
class RawPart:
    """Rows of one file, hub split or registered dataset, before preprocessing.

    `label` names it in messages; `unit` is "line" where row numbers are file lines.

    `lines`, when set, is the file line of each row (blank or bad lines are not rows);
    `bad` are the lines that could not be read as rows at all.
    """

    label: str
    dataset: Any
    columns: dict[str, str] = field(default_factory=dict)
    unit: str = "row"
    lines: list[int] | None = None
    bad: list[BadLine] = field(default_factory=list)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).suffix.lower() in BUILDERS


def raw_parts(
    syntax: DatasetSyntax,
    data_args: DataArguments,
    infos: dict[str, DatasetInfo],
    host: PluginHost | None = None,
) -> list[RawPart]:
    """The raw rows a parsed `--dataset` value names, one part per file/subset/split."""
    info = infos.get(syntax.name)
    if info is not None:
        return _info_parts(info, syntax, data_args)
    path = Path(syntax.name).expanduser()
    if path.exists():
        if syntax.subsets:
            raise DatasetError(f"{syntax.name} is a local path, which has no subsets {list(syntax.subsets)}")
        return local_parts(path, streaming=data_args.streaming)
    if _looks_like_path(syntax.name):
        raise DatasetError(f"dataset file not found: {path}")
    if "/" in syntax.name:
        subsets = None if syntax.all_subsets else [SubsetInfo(s) for s in syntax.subsets]
        if syntax.subsets == ("all",):
            subsets = [SubsetInfo(s) for s in _hub_config_names(syntax.name)]
        return hub_parts(
            syntax.name, subsets, streaming=data_args.streaming, download_mode=data_args.download_mode
        )
    return registered_parts(syntax, data_args, host)


def local_parts(
    path: Path, *, streaming: bool = False, columns: dict[str, str] | None = None
) -> list[RawPart]:
    """A file, or every supported file under a folder, read by `datasets` one file each
    so that a bad row can be reported with its file."""
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in BUILDERS)
        if not files:
            raise DatasetError(f"folder {path} holds no {', '.join(BUILDERS)} files")
    elif path.is_file():
        files = [path]
    else:
        raise DatasetError(f"dataset file not found: {path}")
    parts = []
    for file in files:
        builder = BUILDERS.get(file.suffix.lower())
        if builder is None:
            raise DatasetError(f"{file}: unsupported file type; use one of {', '.join(BUILDERS)}")
        parts.append(_read_file(file, builder, streaming, dict(columns or {})))
    return parts


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    """`datasets` logs its own error for a file it cannot parse; ours replaces it."""
    logger = logging.getLogger("datasets")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _cause(exc: BaseException) -> str:
    """The innermost cause of a `datasets` failure, which says what was wrong."""
    while exc.__cause__ is not None or exc.__context__ is not None:
        exc = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}".strip().rstrip(":")


def _read_file(file: Path, builder: str, streaming: bool, columns: dict[str, str]) -> RawPart:
    """The fast read by `datasets`, or, for a text file it cannot read, the line-by-line one."""
    import datasets

    text = builder != "parquet"
    found = scan(file) if text else None
    if found.empty if found else file.stat().st_size == 0:
        raise DatasetError(f"{file} is empty: it holds no rows")
    unit = "line" if file.suffix.lower() == ".jsonl" else "row"
    if found is None or found.utf8:
        try:
            with _quiet_datasets():
                ds = datasets.load_dataset(builder, data_files=str(file), split="train", streaming=streaming)
        except Exception as exc:
            if not text:
                raise DatasetError(f"could not read {file}: {_cause(exc)}") from None
            failure = _cause(exc)
        else:
            lines = nonblank_lines(file) if unit == "line" and found.blank_lines else None
            if streaming and text:
                ds = _stream_naming_bad_lines(ds, file, builder)
            return RawPart(str(file), ds, columns, unit, lines)
    else:
        failure = "it is not UTF-8"
    return _read_checked(file, builder, streaming, columns, failure)


def _stream_naming_bad_lines(ds: Any, file: Path, builder: str) -> Any:
    """A stream is parsed as it is read, so a bad line fails it there: name that line then."""
    import datasets

    def rows() -> Iterator[dict]:
        try:
            yield from ds
        except Exception as exc:
            bad = _bad_lines(file, builder)
            if not bad:
                raise DatasetError(f"could not read {file}: {_cause(exc)}") from None
            detail = f" ({bad[0].detail})" if bad[0].detail else ""
            raise DatasetError(
                f"{file}, line {bad[0].line}: {bad[0].reason}{detail}. --streaming cannot skip a line "
                "it cannot read: fix the line, or load the file without --streaming to drop such lines."
            ) from None

    return datasets.IterableDataset.from_generator(rows, features=ds.features)


def _bad_lines(file: Path, builder: str) -> list[BadLine]:
    if builder == "csv":
        return csv_records(file)[2]
    return json_lines(file)[2]


def _read_checked(
    file: Path, builder: str, streaming: bool, columns: dict[str, str], failure: str
) -> RawPart:
    """Read a text file line by line: the good lines go to `datasets`, the bad ones are kept
    to be reported (or, with `--strict`, raised) with their line numbers."""
    if builder == "csv":
        numbers, good, bad = csv_records(file)
    elif file.suffix.lower() == ".jsonl" or _json_lines_in_json(broken := json_document(file)):
        numbers, good, bad = json_lines(file)
    elif broken is not None:
        raise DatasetError(
            f"{file}, line {broken.line}: {broken.reason} ({broken.detail}). A .json file that is one "
            "document cannot lose just a bad row: fix the file, or give one row per line (.jsonl)."
        )
    else:
        bad = []
    if not bad:
        raise DatasetError(f"could not read {file}: {failure}")
    if not numbers:
        first = bad[0]
        raise DatasetError(
            f"{file}: no line could be read as a row; line {first.line}: {first.reason} ({first.detail})"
        )
    ds = _load_text(good, builder, file)
    if streaming:
        ds = ds.to_iterable_dataset()
    return RawPart(str(file), ds, columns, "line", numbers, bad)


def _json_lines_in_json(broken: BadLine | None) -> bool:
    """A .json file that breaks with extra data at the start of line 2 or later is JSON Lines."""
    return (
        broken is not None
        and broken.reason == "not valid JSON"
        and broken.line > 1
        and broken.detail.startswith("Extra data")
    )


def _load_text(good: str, builder: str, file: Path) -> Any:
    """The good lines of a file, read by `datasets` into memory from a temporary copy."""
    import datasets

    with tempfile.TemporaryDirectory(prefix="tunekite-rows-") as tmp:
        copy = Path(tmp) / ("rows.csv" if builder == "csv" else "rows.jsonl")
        copy.write_text(good, encoding="utf-8")
        try:
            with _quiet_datasets():
                return datasets.load_dataset(
                    builder, data_files=str(copy), split="train", keep_in_memory=True, cache_dir=tmp
                )
        except Exception as exc:
            raise DatasetError(f"could not read {file}: {_cause(exc)}") from None


def hub_offline() -> bool:
    """Whether the Hugging Face hub is switched off by the environment."""
    return any(os.environ.get(v, "").lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))


def _unreachable(repo_id: str, why: str) -> DatasetError:
    return DatasetError(
        f"dataset {repo_id!r} is a hub id, but the hub is unreachable ({why}). "
        "Download it elsewhere and pass a local path (a .jsonl/.json/.csv/.parquet file or a folder)."
    )


def _hub_config_names(repo_id: str) -> list[str]:
    if hub_offline():
        raise _unreachable(repo_id, "offline mode is on: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE")
    import datasets

    try:
        return datasets.get_dataset_config_names(repo_id)
    except Exception as exc:
        raise _unreachable(repo_id, f"{type(exc).__name__}: {exc}") from exc


def hub_parts(
    repo_id: str,
    subsets: list[SubsetInfo] | None,
    *,
    streaming: bool = False,
    columns: dict[str, str] | None = None,
    download_mode: str | None = None,
) -> list[RawPart]:
    """Each subset and split of a hub dataset; None means its default subset's train split."""
    if hub_offline():
        raise _unreachable(repo_id, "offline mode is on: HF_HUB_OFFLINE/HF_DATASETS_OFFLINE")
    import datasets

    parts = []
    for subset in subsets or [SubsetInfo("")]:
        for split in subset.split:
            label = f"{repo_id}:{subset.name}[{split}]" if subset.name else f"{repo_id}[{split}]"
            try:
                ds = datasets.load_dataset(
                    repo_id,
                    subset.name or None,
                    split=split,
                    streaming=streaming,
                    download_mode=download_mode,
                )
            except Exception as exc:
                raise _unreachable(repo_id, f"{type(exc).__name__}: {exc}") from exc
            parts.append(RawPart(label, ds, {**(columns or {}), **subset.columns}))
    return parts


def _info_parts(info: DatasetInfo, syntax: DatasetSyntax, data_args: DataArguments) -> list[RawPart]:
    if info.dataset_path is not None:
        if syntax.subsets:
            raise DatasetError(f"{info.origin}: a dataset_path has no subsets {list(syntax.subsets)}")
        return local_parts(Path(info.dataset_path), streaming=data_args.streaming, columns=info.columns)
    if info.hf_dataset_id is None:
        raise DatasetError(
            f"{info.origin}: ModelScope datasets (ms_dataset_id) cannot be loaded; "
            "add an hf_dataset_id or a dataset_path"
        )
    declared = {s.name: s for s in info.subsets}
    if syntax.all_subsets:
        subsets = list(info.subsets) or [SubsetInfo("", {}, info.split)]
    else:
        subsets = [declared.get(name, SubsetInfo(name, {}, info.split)) for name in syntax.subsets]
    return hub_parts(
        info.hf_dataset_id,
        subsets,
        streaming=data_args.streaming,
        columns=info.columns,
        download_mode=data_args.download_mode,
    )


def registered_parts(
    syntax: DatasetSyntax, data_args: DataArguments, host: PluginHost | None
) -> list[RawPart]:
    """Rows from a plugin's `DatasetSpec` factory, called with the chosen subsets."""
    import datasets

    if host is None:
        raise DatasetError(
            f"dataset {syntax.name!r}: no file or folder of that name, and no plugin host was given "
            "to look it up among registered datasets"
        )
    try:
        spec = host.registry("datasets").get(syntax.name)
    except UnknownNameError as exc:
        raise UnknownNameError(
            f"{exc} There is no file or folder {syntax.name!r} either; give a .jsonl/.json/.csv/.parquet "
            "file or folder, or a hub id (org/name)."
        ) from None
    chosen = spec.subsets if syntax.all_subsets else syntax.subsets
    unknown = [s for s in chosen if s not in spec.subsets]
    if unknown:
        offered = ", ".join(spec.subsets) or "none"
        raise DatasetError(f"dataset {spec.name!r} has no subset {unknown[0]!r}; its subsets: {offered}")
    rows = spec.load()(tuple(chosen), data_args)
    ds = datasets.Dataset.from_list(list(rows)) if isinstance(rows, (list, tuple)) else rows
    if data_args.streaming and isinstance(ds, datasets.Dataset):
        ds = ds.to_iterable_dataset()
    return [RawPart(f"dataset {spec.name!r}", ds)]
