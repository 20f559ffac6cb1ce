"""Subclasses of a model's own module classes with a method or two replaced, made while a
run sets the model up (`fused_lora`, `gated_mlp`, `lean_rms_norm`), and published in this
module so that a pickled model finds them again (pickle looks a class up by module and
name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_PROBED: dict[tuple[Callable[..., bool], type], bool] = {}


def subclass_of(base: type, prefix: str, methods: dict[str, Callable[..., Any]]) -> type:
    """`<prefix><base>`: `base` with `methods` in its namespace, made once per name."""
    name = f"{prefix}{base.__name__}"
    if name not in globals():
        attrs = {**methods, "__module__": __name__, "__qualname__": name}
        globals()[name] = type(name, (base,), attrs)
    return globals()[name]


def lean_forwards(model: Any, probe: Callable[[Any], bool], forward: Callable[..., Any]) -> int:
    """Give each module of `model` whose class `probe` accepts (asked of its first module,
    once per class) `forward` in a subclass `Lean<class>`, its own forward kept as
    `_dense_forward`; returns how many changed (none already lean)."""
    changed = 0
    for module in model.modules():
        cls = type(module)
        if cls.__module__ == __name__:
            continue
        if (probe, cls) not in _PROBED:
            _PROBED[probe, cls] = probe(module)
        if _PROBED[probe, cls]:
            module.__class__ = subclass_of(cls, "Lean", {"forward": forward, "_dense_forward": cls.forward})
            changed += 1
    return changed
