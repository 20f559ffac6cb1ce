"""Datasets: `--dataset` syntax, loading and row preprocessing into canonical conversations.

Light to import: `datasets` and numpy are imported only by the functions that need them.
"""

from tunekite.data.errors import DatasetError, RowError
from tunekite.data.formats import CANONICAL_KEYS, to_conversation, validate_conversation
from tunekite.data.loading import (
    DropReport,
    check_streaming,
    load_dataset,
    load_datasets,
    sample_dataset,
    split_dataset,
)
from tunekite.data.syntax import DatasetSyntax, parse_dataset_syntax

__all__ = [
    "CANONICAL_KEYS",
    "DatasetError",
    "DatasetSyntax",
    "DropReport",
    "RowError",
    "check_streaming",
    "load_dataset",
    "load_datasets",
    "parse_dataset_syntax",
    "sample_dataset",
    "split_dataset",
    "to_conversation",
    "validate_conversation",
]
