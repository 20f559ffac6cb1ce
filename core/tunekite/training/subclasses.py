"""Subclasses of a model's own module classes with a method or two replaced, made while a
run sets the model up (`fused_lora`, `gated_mlp`), and published in this module so that a
pickled model finds them again (pickle looks a class up by module and name)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def subclass_of(base: type, prefix: str, methods: dict[str, Callable[..., Any]]) -> type:
    """`<prefix><base>`: `base` with `methods` in its namespace, made once per name."""
    name = f"{prefix}{base.__name__}"
    if name not in globals():
        attrs = {**methods, "__module__": __name__, "__qualname__": name}
        globals()[name] = type(name, (base,), attrs)
    return globals()[name]
