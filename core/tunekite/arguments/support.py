"""Refuse, at resolve time, argument values that nothing would read (see `tunekite.arguments`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tunekite.arguments.parser import Group
from tunekite.errors import ArgumentError


def refuse_unread(
    groups: Iterable[Group],
    values: Mapping[str, Any],
    selected: Mapping[str, list[Any]],
    runnable: Any,
) -> None:
    """Raise for the first argument set away from its default that no code would read:
    one declared `unsupported`, one the runnable or a selected component `rejects`, or
    one `read_by` a component kind of which this run selects none."""
    groups = list(groups)
    rejects = {
        name: f"{spec.kind[:-1].replace('_', ' ')} {spec.name!r} does not read it: {reason}"
        for spec in [runnable, *(s for specs in selected.values() for s in specs)]
        for name, reason in spec.rejects
    }
    selectors = {f.selects: f.name for g in groups for f in g.fields() if f.selects}
    for group in groups:
        for f in group.fields():
            if values.get(f.name, f.default) == f.default:
                continue
            if f.unsupported:
                raise ArgumentError(f"--{f.name}: {f.unsupported}")
            if f.name in rejects:
                raise ArgumentError(f"--{f.name}: {rejects[f.name]}")
            if f.read_by in selectors and not selected.get(f.read_by):
                raise ArgumentError(
                    f"--{f.name} is read by the selected {f.read_by[:-1].replace('_', ' ')}, and this run "
                    f"selects none: add --{selectors[f.read_by]} NAME or drop --{f.name}"
                )
