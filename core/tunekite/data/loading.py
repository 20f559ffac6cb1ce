"""Load, preprocess, sample and split the `--dataset`/`--val_dataset` values.

Order per `--dataset` value, as in ms-swift 3.x: read (one part per file, subset or
split), rename columns, convert rows to canonical conversations (dropping or, with
`--strict`, failing on bad rows), sample `#N`, then hold out `--split_dataset_ratio`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from tunekite.data.dataset_info import DatasetInfo, load_dataset_info
from tunekite.data.errors import DatasetError, RowError
from tunekite.data.formats import CANONICAL_KEYS, FORMAT_COLUMNS, to_conversation
from tunekite.data.sources import RawPart, raw_parts
from tunekite.data.syntax import parse_dataset_syntax
from tunekite.errors import ArgumentError

if TYPE_CHECKING:
    from datasets import Dataset, IterableDataset

    from tunekite.arguments.groups import DataArguments
    from tunekite.plugin_host import PluginHost

    AnyDataset = Dataset | IterableDataset

logger = logging.getLogger("tunekite.data")

_REASON, _DETAIL = "_tk_drop_reason", "_tk_drop_detail"
_NO_ROW = {"messages": [], "tools": None, "rejected_response": None, "label": None}


@dataclass
class DropReport:
    """Rows dropped as malformed, by reason and by source (file or dataset).

    For streamed data the counts grow while the stream is read.
    """

    counts: Counter[str] = field(default_factory=Counter)
    by_source: dict[str, Counter[str]] = field(default_factory=dict)
    places: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def add(self, source: str, reason: str, n: int = 1, *, at: str | None = None) -> None:
        """Count `n` rows of `source` dropped for `reason`; `at` is where ("line 3")."""
        self.counts[reason] += n
        self.by_source.setdefault(source, Counter())[reason] += n
        if at is not None:
            self.places.setdefault((source, reason), []).append(at)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def summary(self) -> str:
        lines = [f"Dropped {self.total} malformed row(s) (use --strict true to fail on them instead):"]
        return "\n".join([*lines, *(f"  {line}" for line in self.lines())])

    def lines(self, shown: int = 5) -> list[str]:
        """`source: N x reason (line 3, line 7)` per source and reason, commonest first."""
        out = []
        for source, counts in self.by_source.items():
            for reason, n in counts.most_common():
                places = self.places.get((source, reason), [])
                more = f" and {len(places) - shown} more" if len(places) > shown else ""
                at = f" ({', '.join(places[:shown])}{more})" if places else ""
                out.append(f"{source}: {n} x {reason}{at}")
        return out

    def merge(self, other: DropReport) -> None:
        """Add the drops another report counted."""
        for source, counts in other.by_source.items():
            for reason, n in counts.items():
                self.counts[reason] += n
                self.by_source.setdefault(source, Counter())[reason] += n
        for key, places in other.places.items():
            self.places.setdefault(key, []).extend(places)


def check_streaming(data_args: DataArguments, max_steps: int) -> None:
    """A stream has no length, so training must be bounded by `--max_steps`."""
    if data_args.streaming and max_steps <= 0:
        raise ArgumentError(
            f"--streaming needs --max_steps > 0 (got {max_steps}): a streamed dataset has no "
            "length, so the number of steps cannot be derived from --num_train_epochs"
        )


def load_datasets(
    data_args: DataArguments,
    *,
    max_steps: int | None = None,
    require_response: bool = True,
    origin_column: str | None = None,
    before_split: Callable[[AnyDataset, str], AnyDataset] | None = None,
    host: PluginHost | None = None,
) -> tuple[AnyDataset, AnyDataset | None, DropReport]:
    """The training set, the validation set (None without one) and what was dropped.

    `max_steps`, when given, is checked against `--streaming`. `require_response=False`
    keeps rows that end without an assistant turn (prompt-only data for GRPO).
    `origin_column`, when given, is added to every row with where the row came from
    (`data.jsonl, line 3`), so that a later stage can name it in an error too.
    `before_split`, when given, turns each `--dataset` and `--val_dataset` value's rows
    (and the value, to name it) into what is returned (encoded samples) before the
    split, so that rows it drops (too long) are never the ones held out.
    `host` (the run's `run.plugin_host`) finds registered dataset names; without it only
    files, folders and hub ids load.
    """
    if max_steps is not None:
        check_streaming(data_args, max_steps)
    if not data_args.dataset:
        raise ArgumentError("no training data: pass --dataset (a file, folder, registered name or hub id)")
    ratio = data_args.split_dataset_ratio
    if not 0 <= ratio < 1:
        raise ArgumentError(f"--split_dataset_ratio must be in [0, 1), got {ratio}")
    if data_args.val_dataset or data_args.streaming:
        ratio = 0.0
    infos = load_dataset_info(data_args.custom_dataset_info)
    report = DropReport()
    load = partial(
        load_dataset,
        data_args=data_args,
        report=report,
        infos=infos,
        require_response=require_response,
        origin_column=origin_column,
        host=host,
    )
    loaded = []  # each value's drops apart, to explain a split that fails; a stream's grow later
    with _caching(data_args.enable_cache):
        for text in data_args.dataset:
            dropped = DropReport() if ratio > 0 else report
            loaded.append((text, load(text, report=dropped), dropped))
        given_val = [load(text) for text in data_args.val_dataset]
    for _, _, dropped in loaded:
        if dropped is not report:
            report.merge(dropped)
    if report.total:  # before anything else can fail, so that a failure can be understood
        logger.warning(report.summary())
    finish = before_split or (lambda ds, _: ds)
    train, val = [], []
    for text, rows, dropped in loaded:
        part_train, part_val = _split(text, rows, finish(rows, text), ratio, data_args.data_seed, dropped)
        train.append(part_train)
        val += [part_val] if part_val is not None else []
    val += [finish(rows, text) for rows, text in zip(given_val, data_args.val_dataset, strict=True)]
    return _concat(train), _concat(val) if val else None, report


def _split(
    text: str, rows: AnyDataset, kept: AnyDataset, ratio: float, seed: int, report: DropReport
) -> tuple[AnyDataset, AnyDataset | None]:
    """`split_dataset`, failing with what was dropped from `text` before the reason."""
    try:
        return split_dataset(kept, ratio, seed)
    except DatasetError as exc:
        dropped = report.lines()
        if len(rows) > len(kept):
            dropped.append(f"{len(rows) - len(kept)} when encoding (see the warning above)")
        lead = f"--dataset {text}: dropped {'; '.join(dropped)}. So: " if dropped else f"--dataset {text}: "
        raise DatasetError(f"{lead}{exc}. Pass --split_dataset_ratio 0 or give a --val_dataset.") from None


def load_dataset(
    text: str,
    data_args: DataArguments,
    *,
    report: DropReport,
    infos: dict[str, DatasetInfo] | None = None,
    require_response: bool = True,
    origin_column: str | None = None,
    host: PluginHost | None = None,
) -> AnyDataset:
    """One `--dataset` value as canonical rows, sampled to `#N` if given."""
    syntax = parse_dataset_syntax(text)
    parts = [
        _preprocess(part, data_args, report, require_response, origin_column)
        for part in raw_parts(syntax, data_args, infos or {}, host)
    ]
    ds = _concat(parts)
    if syntax.sample is not None:
        ds = sample_dataset(ds, syntax.sample, data_args.data_seed)
    return ds


def sample_dataset(dataset: AnyDataset, n: int, seed: int) -> AnyDataset:
    """ms-swift's `#N`: below the size a seeded sample without replacement; above it,
    whole repeats topped up with a seeded sample. A stream takes its first N rows."""
    import numpy as np
    from datasets import IterableDataset

    if isinstance(dataset, IterableDataset):
        return dataset.take(n)
    size = len(dataset)
    if size == 0:
        raise DatasetError("cannot sample from an empty dataset")
    repeats, remainder = divmod(n, size)
    rng = np.random.RandomState(seed)
    index = np.concatenate([np.tile(np.arange(size), repeats), rng.permutation(size)[:remainder]])
    return dataset.select(index.tolist())


def split_dataset(dataset: AnyDataset, ratio: float, seed: int) -> tuple[AnyDataset, AnyDataset | None]:
    """Hold out `ratio` of the rows (at least one) for validation, seeded; 0 holds out none."""
    import numpy as np

    if ratio <= 0:
        return dataset, None
    size = len(dataset)
    n_val = max(int(size * ratio), 1)
    if n_val >= size:
        raise DatasetError(f"only {size} row(s): too few to hold out {ratio} for validation")
    order = np.random.RandomState(seed).permutation(size)
    return dataset.select(sorted(order[n_val:].tolist())), dataset.select(sorted(order[:n_val].tolist()))


@contextmanager
def _caching(enabled: bool) -> Iterator[None]:
    """`--enable_cache` for the duration of loading, restoring the global setting after."""
    import datasets

    was = datasets.is_caching_enabled()
    (datasets.enable_caching if enabled else datasets.disable_caching)()
    try:
        yield
    finally:
        (datasets.enable_caching if was else datasets.disable_caching)()


def _columns_of(ds: AnyDataset) -> list[str]:
    if ds.column_names is not None:
        return list(ds.column_names)
    first = next(iter(ds), None)
    return list(first) if first is not None else []


def _rename(part: RawPart, columns: dict[str, str], present: list[str]) -> AnyDataset:
    mapping = {old: new for old, new in columns.items() if old in present and old != new}
    for old, new in mapping.items():
        if new in present and new not in mapping:
            raise DatasetError(f"{part.label}: cannot rename column {old!r} to {new!r}, which already exists")
    return part.dataset.rename_columns(mapping) if mapping else part.dataset


def _mark(row: dict, *, require_response: bool) -> dict:
    """The canonical keys of a row, plus why it must be dropped (None when it is fine)."""
    try:
        out = to_conversation(row, require_response=require_response)
    except RowError as exc:
        return {**_NO_ROW, _REASON: exc.reason, _DETAIL: exc.detail}
    return {**{k: out[k] for k in CANONICAL_KEYS}, _REASON: None, _DETAIL: None}


def _place(part: RawPart, index: int) -> str:
    """A row's place in its file: `line 3` (or `row 3`)."""
    return f"line {part.lines[index]}" if part.lines is not None else f"{part.unit} {index + 1}"


def _where(part: RawPart, index: int) -> str:
    """A row's place in its source: `data.jsonl, line 3` (or `row 3`)."""
    return f"{part.label}, {_place(part, index)}"


def _row_message(part: RawPart, index: int, reason: str, detail: str | None) -> str:
    return f"{_where(part, index)}: {reason}" + (f" ({detail})" if detail else "")


def _unreadable_lines(part: RawPart, strict: bool, report: DropReport) -> None:
    """Lines the reader could not turn into rows fail (strict) or are counted as dropped."""
    if part.bad and strict:
        first = part.bad[0]
        detail = f" ({first.detail})" if first.detail else ""
        raise DatasetError(
            f"{part.label}, line {first.line}: {first.reason}{detail}. "
            "Fix the line, or pass --strict false to drop such lines."
        )
    for bad in part.bad:
        report.add(part.label, bad.reason, at=f"line {bad.line}")


def _features(ds: AnyDataset, consumed: set[str]) -> Any:
    """Output schema fixed up front, so every file yields the same Arrow types."""
    from datasets import Features, List, Value

    if ds.features is None:
        return None
    message = {"role": Value("string"), "content": Value("string")}
    return Features(
        {
            **{k: v for k, v in ds.features.items() if k not in consumed},
            "messages": List(message),
            "tools": Value("string"),
            "rejected_response": Value("string"),
            "label": Value("bool"),
            _REASON: Value("string"),
            _DETAIL: Value("string"),
        }
    )


def _preprocess(
    part: RawPart,
    data_args: DataArguments,
    report: DropReport,
    require_response: bool,
    origin_column: str | None = None,
) -> AnyDataset:
    from datasets import IterableDataset

    _unreadable_lines(part, data_args.strict, report)
    present = _columns_of(part.dataset)
    ds = _rename(part, {**part.columns, **(data_args.columns or {})}, present)
    consumed = {c for c in _columns_of(ds) if c in FORMAT_COLUMNS}
    mark = partial(_mark, require_response=require_response)
    if isinstance(ds, IterableDataset):
        mapped = ds.map(mark, remove_columns=sorted(consumed))
        if origin_column:
            mapped = mapped.map(lambda _, index: {origin_column: _where(part, index)}, with_indices=True)
        return _preprocess_stream(part, mapped, data_args.strict, report)
    mapped = ds.map(
        mark,
        remove_columns=sorted(consumed),
        features=_features(ds, consumed),
        num_proc=data_args.dataset_num_proc if data_args.dataset_num_proc > 1 else None,
        load_from_cache_file=data_args.enable_cache,
        desc=f"Preprocessing {part.label}",
    )
    if origin_column:  # numbered before anything is dropped, as the file numbers its rows
        mapped = mapped.add_column(origin_column, [_where(part, i) for i in range(len(mapped))])
    reasons = list(mapped[_REASON])
    bad = [i for i, r in enumerate(reasons) if r is not None]
    if bad and data_args.strict:
        first = bad[0]
        message = _row_message(part, first, reasons[first], mapped[first][_DETAIL])
        raise DatasetError(f"{message}. Fix the row, or pass --strict false to drop such rows.")
    for i in bad:
        report.add(part.label, reasons[i], at=_place(part, i))
    if bad and len(bad) == len(reasons):
        raise DatasetError(f"{part.label}: every row was dropped; first: {_place(part, 0)}: {reasons[0]}")
    if bad:
        keep = set(range(len(reasons))) - set(bad)
        mapped = mapped.select(sorted(keep))
    return mapped.remove_columns([_REASON, _DETAIL])


def _preprocess_stream(
    part: RawPart, mapped: IterableDataset, strict: bool, report: DropReport
) -> IterableDataset:
    """Bad rows of a stream fail or are dropped (counted and logged) as they are read."""

    def keep(reason: str | None, detail: str | None, index: int) -> bool:
        if reason is None:
            return True
        message = _row_message(part, index, reason, detail)
        if strict:
            raise DatasetError(message)
        report.add(part.label, reason, at=_place(part, index))
        logger.warning("Dropped %s", message)
        return False

    kept = mapped.filter(keep, with_indices=True, input_columns=[_REASON, _DETAIL])
    return kept.remove_columns([_REASON, _DETAIL])


def _concat(parts: list[AnyDataset]) -> AnyDataset:
    """Concatenate, filling extra columns a part lacks with None so the schemas agree."""
    import datasets

    if len(parts) == 1:
        return parts[0]
    if all(isinstance(p, datasets.Dataset) for p in parts):
        features = {k: v for p in parts for k, v in p.features.items()}
        parts = [_with_columns(p, features) for p in parts]
    try:
        return datasets.concatenate_datasets(parts)
    except ValueError as exc:
        raise DatasetError(f"cannot combine the datasets: their extra columns disagree ({exc})") from exc


def _with_columns(ds: Dataset, features: dict[str, Any]) -> Dataset:
    for name, feature in features.items():
        if name not in ds.column_names:
            ds = ds.add_column(name, [None] * len(ds), feature=feature)
    return ds
