"""Which declared arguments nothing reads: a static check over every installed component.

An argument counts as read when its owner's source code reads it: an attribute load
(`run.lora_rank`, `args.lora_rank`) or a string key (`values["lora_rank"]`,
`getattr(x, "lora_rank")`, `d.get("lora_rank")`) anywhere in the top-level package (or
file) that defines its group. A core argument may instead be read by the components of
its `read_by` kind, or, in the training group, be handed to transformers by
`tunekite.training.hf_args.DESTINATIONS`. Selectors are read by the resolver, and an
`unsupported` argument is refused. A component that calls one of core's helpers reads
what that helper reads for it (`_HELPER_READS`: `peft_target_modules(common)` reads
`--target_modules` and `--target_regex`). The check is by name, so a common name such as
`model` is found more easily than a rare one; it still catches an argument that no
code of its owner mentions at all, which is how an unread argument usually looks.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.arguments.fields import ArgField, fields_of
from tunekite.arguments.groups import CORE_GROUPS

if TYPE_CHECKING:
    from tunekite.plugin_host import PluginHost

_KEY_CALLS = {"getattr", "hasattr", "get", "pop", "setdefault"}
_HELPER_READS = {
    "peft_target_modules": ("target_modules", "target_regex"),
    "engine_for": ("max_batch_size",),
}
"""Public helpers (`tunekite.api`) that read core arguments on behalf of their caller."""


@dataclass(frozen=True)
class Unread:
    """An argument with no reader and no refusal."""

    owner: str
    group: str
    name: str
    why: str

    def __str__(self) -> str:
        return f"{self.owner}: {self.group}: --{self.name} {self.why}"


def unread_arguments(host: PluginHost) -> list[Unread]:
    """Every argument of core's groups and of every registered component that has neither
    a reader nor a refusal."""
    from tunekite.training.hf_args import DESTINATIONS, HF, Ours, Refused

    found: list[Unread] = []
    for key, group in CORE_GROUPS.items():
        for f in fields_of(group):
            if f.selects or f.enables or f.unsupported:
                continue
            where = DESTINATIONS.get(f.name) if key == "training" else None
            if key == "training" and where is None:
                found.append(Unread("tunekite", key, f.name, "is missing from hf_args.DESTINATIONS"))
            elif isinstance(where, HF):
                continue
            elif isinstance(where, Refused):
                found.append(
                    Unread("tunekite", key, f.name, "is Refused in DESTINATIONS but not arg(unsupported=)")
                )
            elif isinstance(where, Ours) and not f.read_by:
                if not _reads(f.name, _package_files(where.reader)):
                    found.append(
                        Unread("tunekite", key, f.name, f"is not read by {where.reader}, its named reader")
                    )
            elif f.read_by is not None:  # every component of that kind reads it or refuses it
                why = _read_by_kind(host, f, key)
                if why:
                    found.append(Unread("tunekite", key, f.name, why))
            elif not _reads(f.name, _package_files("tunekite")):
                why = "is read nowhere in tunekite and has no read_by kind"
                found.append(Unread("tunekite", key, f.name, why))
    for spec, owner in _components(host):
        what = f"{spec.kind[:-1].replace('_', ' ')} {spec.name}"
        files = _package_files(spec.args.__module__)
        for f in fields_of(spec.args):
            if not (f.selects or f.enables or f.unsupported or _reads(f.name, files)):
                found.append(
                    Unread(owner, what, f.name, f"is read nowhere in {spec.args.__module__.split('.')[0]}")
                )
    return found


def _read_by_kind(host: PluginHost, f: ArgField, group: str) -> str | None:
    """Why a core argument that core does not read has no reader, or None when it has one.

    For a kind chosen by a selector (`--tuner`, `--quant_method`) or by `tk run NAME`,
    every installed component of that kind (every runnable taking `group`) must read it
    or list it in `rejects` (with no quantizer installed the run refuses `--quant_bits`
    as "none selected"); for other kinds (datasets), one reader suffices.
    """
    entries = [e for e in host.registry(f.read_by) if group in getattr(e.spec, "groups", (group,))]
    readers = [e for e in entries if _reads(f.name, _package_files(_module_of(e.spec)))]
    selected = f.read_by in ("trainers", "tasks") or any(
        g.selects == f.read_by for fields in CORE_GROUPS.values() for g in fields_of(fields)
    )
    if not selected:
        names = ", ".join(e.spec.name for e in entries) or "none"
        return None if readers else f"is read by none of the installed {f.read_by} ({names})"
    silent = [e.spec.name for e in entries if e not in readers and f.name not in dict(e.spec.rejects)]
    return f"is neither read nor rejected by {f.read_by} {', '.join(silent)}" if silent else None


def _components(host: PluginHost) -> Iterator[tuple[Any, str]]:
    from tunekite.registrations import KINDS

    seen: set[type] = set()
    for kind in KINDS:
        for entry in host.registry(kind):
            args = entry.spec.args
            if args is not None and args not in seen:
                seen.add(args)
                yield entry.spec, entry.distribution or entry.plugin


def _module_of(spec: Any) -> str:
    factory = spec.factory
    if isinstance(factory, str):
        return factory.partition(":")[0]
    return getattr(factory, "func", factory).__module__  # a functools.partial names its function


@functools.cache
def _package_files(module: str) -> tuple[Path, ...]:
    """The .py files of the top-level package `module` belongs to; only the module's own
    file when that is a namespace package (a test module imported as `core.tests.x`)."""
    top = module.split(".")[0]
    __import__(module)
    file = sys.modules[top].__file__ or sys.modules[module].__file__
    if file is None:
        raise ValueError(f"module {module!r} has no source file")
    path = Path(file)
    return tuple(sorted(path.parent.rglob("*.py"))) if path.name == "__init__.py" else (path,)


def _reads(name: str, files: Iterable[Path]) -> bool:
    return any(name in _read_names(file) for file in files)


@functools.cache
def _read_names(file: Path) -> frozenset[str]:
    """Attribute loads and string keys (subscripts, getattr/get/pop calls) in `file`."""
    tree = ast.parse(file.read_text(encoding="utf-8"), filename=str(file))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            names.add(node.attr)
        elif isinstance(node, ast.Subscript):
            names.update(_strings([node.slice]))
        elif isinstance(node, ast.Call):
            func = node.func
            called = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            if called in _KEY_CALLS:
                names.update(_strings(node.args))
            names.update(_HELPER_READS.get(called, ()))
    return frozenset(names)


def _strings(nodes: Iterable[ast.AST]) -> Iterator[str]:
    for node in nodes:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.value
