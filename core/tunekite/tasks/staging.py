"""Exports land whole or not at all: written into a staging folder, then moved into place."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def staged_into(folder: Path) -> Iterator[Path]:
    """A fresh empty folder inside `folder` to write an export into. When the block ends
    without an error its files move into `folder` (replacing same-named ones, keeping the
    rest, such as the run's args.json); on an error it is removed, leaving `folder` as it was."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=folder))
    try:
        yield staging
        for item in sorted(staging.iterdir()):
            target = folder / item.name
            if target.is_dir():
                shutil.rmtree(target)
            os.replace(item, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
