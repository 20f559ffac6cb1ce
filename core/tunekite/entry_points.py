"""The installed `tunekite` entry points, remembered between processes.

Importing `importlib.metadata` and scanning every installed distribution costs a
quarter of `tk --help`'s start-up budget, and the answer only changes when a
distribution is installed or removed, which changes the modification time of the
folder it lives in. So the scan's result is kept in the user cache, keyed by the
interpreter and the modification times of every `sys.path` entry, and read back
while that key holds. Set `TUNEKITE_CACHE_DIR` to move the cache.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import zlib
from dataclasses import asdict, dataclass
from typing import Any

GROUP = "tunekite"


@dataclass(frozen=True)
class InstalledEntryPoint:
    """One entry point of the `tunekite` group and the distribution that declares it."""

    name: str
    value: str
    distribution: str | None
    version: str | None

    def load(self) -> Any:
        """Import `module` or `module:attr.attr` (what `EntryPoint.load` does)."""
        module, _, attrs = self.value.partition(":")
        target: Any = importlib.import_module(module.strip())
        for attr in filter(None, attrs.split("[")[0].strip().split(".")):
            target = getattr(target, attr)
        return target


def _cache_key() -> list[Any]:
    entries = []
    for path in sys.path:
        try:
            entries.append([path, os.stat(path or ".").st_mtime_ns])
        except OSError:
            entries.append([path, None])
    return [sys.executable, entries]


def _cache_file() -> str:
    root = os.environ.get("TUNEKITE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunekite"
    )
    return os.path.join(root, f"entry-points-{zlib.crc32(sys.executable.encode()):08x}.json")


def installed() -> list[InstalledEntryPoint]:
    """Every `tunekite` entry point, sorted by name; from the cache when it is current."""
    key = _cache_key()
    cache = _cache_file()
    try:
        with open(cache, encoding="utf-8") as file:
            stored = json.load(file)
        if stored["key"] == key:
            return [InstalledEntryPoint(**ep) for ep in stored["entry_points"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = _scan()
    try:
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as file:
            json.dump({"key": key, "entry_points": [asdict(ep) for ep in found]}, file)
        os.replace(tmp, cache)
    except OSError:
        pass  # a read-only home only costs the next start its scan
    return found


def _scan() -> list[InstalledEntryPoint]:
    from importlib import metadata

    found = []
    for ep in metadata.entry_points(group=GROUP):
        distribution, version = _name_and_version(ep.dist)
        found.append(InstalledEntryPoint(ep.name, ep.value, distribution, version))
    return sorted(found, key=lambda ep: ep.name)


def _name_and_version(dist: Any) -> tuple[str | None, str | None]:
    """Name and Version from the METADATA headers (the email parser is not needed)."""
    if dist is None:
        return None, None
    found: dict[str, str] = {}
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line:  # the headers end at the first blank line
            break
        key, _, value = line.partition(":")
        if key in ("Name", "Version"):
            found.setdefault(key, value.strip())
    return found.get("Name"), found.get("Version")
