"""The `--dataset` syntax of ms-swift 3.x: `name_or_path[:subset1/subset2|all][#N]`."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from tunekite.data.errors import DatasetError

_SAMPLE = re.compile(r"^(?P<rest>.+)#(?P<n>[^#/]*)$")


@dataclass(frozen=True)
class DatasetSyntax:
    """One parsed `--dataset` value.

    `subsets` is empty for the default subset(s) and `("all",)` for every subset;
    `sample` is the `#N` row count, None for every row.
    """

    name: str
    subsets: tuple[str, ...] = ()
    sample: int | None = None

    @property
    def all_subsets(self) -> bool:
        return not self.subsets or self.subsets == ("all",)


def _exists(path: str) -> bool:
    return os.path.exists(os.path.expanduser(path))


def parse_dataset_syntax(text: str) -> DatasetSyntax:
    """Split a `--dataset` value into name, subsets and sample size.

    An existing path is taken whole first, so file names holding ':' or '#' work.
    """
    text = text.strip()
    if not text:
        raise DatasetError("empty --dataset value")
    if _exists(text):
        return DatasetSyntax(text)
    sample = None
    match = _SAMPLE.match(text)
    if match:
        text, count = match["rest"], match["n"]
        if not (count.isascii() and count.isdigit()) or int(count) < 1:
            raise DatasetError(
                f"bad --dataset value {match.string!r}: the sample size after '#' must be a whole "
                f"number of rows, at least 1, got {count!r}"
            )
        sample = int(count)
    if _exists(text) or ":" not in text:
        return DatasetSyntax(text, (), sample)
    name, _, subsets = text.rpartition(":")
    parts = tuple(s for s in subsets.split("/") if s)
    if not name or not parts:
        raise DatasetError(f"bad --dataset value {text!r}: expected name_or_path[:subset1/subset2|all][#N]")
    return DatasetSyntax(name, parts, sample)
