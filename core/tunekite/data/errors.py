"""Errors of dataset loading: one for the person at the keyboard, one for a single row."""

from __future__ import annotations

from tunekite.errors import TunekiteError


class DatasetError(TunekiteError):
    """A dataset that cannot be used as given: missing file, bad row (strict), no hub."""


class RowError(ValueError):
    """A row that fits no format or breaks the canonical rules.

    `reason` is a short category, so drops can be counted per reason; `detail` says
    what exactly was wrong with this row.
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.reason}: {self.detail}" if self.detail else self.reason
