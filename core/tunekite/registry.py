"""Per-kind registries of component specs, with errors that tell you what to do next."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from tunekite.errors import DuplicateNameError, UnknownNameError, did_you_mean
from tunekite.registrations import ComponentSpec

S = TypeVar("S", bound=ComponentSpec)


@dataclass(frozen=True)
class Entry(Generic[S]):
    """A spec and the plugin that registered it."""

    spec: S
    plugin: str
    distribution: str | None
    builtin: bool = False


def _owner(entry: Entry) -> str:
    return entry.distribution or entry.plugin


class Registry(Generic[S]):
    """The components of one kind, by name and alias.

    Built by the plugin host. A name two plugins register is a conflict: looking that
    name up fails naming both distributions, every other name keeps working, and
    `tk plugins` shows it. A plugin re-registering one of core's built-in names is
    ignored for that component, with a warning: the built-in wins.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[S]] = {}
        self._aliases: dict[str, str] = {}
        self._conflicts: dict[str, str] = {}
        self.warnings: list[str] = []
        self.hints: dict[str, str] = {}
        self.note: str | None = None

    @property
    def singular(self) -> str:
        return self.kind[:-1].replace("_", " ")

    @property
    def conflicts(self) -> list[str]:
        return list(dict.fromkeys(self._conflicts.values()))

    def add(self, entry: Entry[S]) -> None:
        for name in (entry.spec.name, *entry.spec.aliases):
            clash = self._lookup(name)
            if clash is not None and clash.builtin and not entry.builtin:
                self.warnings.append(
                    f"{self.singular} {name!r} of {_owner(entry)} (plugin {entry.plugin}) is ignored: "
                    f"core's built-in {self.singular} {name!r} wins; rename it in that plugin"
                )
                return
            if clash is not None:  # the entry is left out: its names fail, naming both
                message = (
                    f"{self.singular} {name!r} is registered by both {_owner(clash)} "
                    f"(plugin {clash.plugin}) and {_owner(entry)} (plugin {entry.plugin})"
                )
                for own in (entry.spec.name, *entry.spec.aliases):
                    self._conflicts.setdefault(own, message)
                return
        self._entries[entry.spec.name] = entry
        for alias in entry.spec.aliases:
            self._aliases[alias] = entry.spec.name

    def _lookup(self, name: str) -> Entry[S] | None:
        return self._entries.get(self._aliases.get(name, name))

    def entry(self, name: str) -> Entry[S]:
        if name in self._conflicts:
            raise DuplicateNameError(
                f"Conflicting plugins: {self._conflicts[name]}. "
                "Uninstall one of them or limit loading with TUNEKITE_PLUGINS."
            )
        found = self._lookup(name)
        if found is None:
            raise UnknownNameError(self._unknown_message(name))
        return found

    def get(self, name: str) -> S:
        return self.entry(name).spec

    def _unknown_message(self, name: str) -> str:
        known = sorted({*self._entries, *self._aliases})
        parts = [f"Unknown {self.singular} {name!r}.{did_you_mean(name, known)}"]
        if name in self.hints:
            parts.append(self.hints[name])
        if self._entries:
            listing = ", ".join(f"{n} ({_owner(e)})" for n, e in sorted(self._entries.items()))
            parts.append(f"Installed {self.kind.replace('_', ' ')}: {listing}.")
        else:
            parts.append(f"No {self.kind.replace('_', ' ')} are installed.")
        if self.note:
            parts.append(self.note)
        return " ".join(parts)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def __iter__(self) -> Iterator[Entry[S]]:
        """The entries, sorted by name; a conflicting name keeps its first registration."""
        return iter(sorted(self._entries.values(), key=lambda e: e.spec.name))

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return [e.spec.name for e in self]
