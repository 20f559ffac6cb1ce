"""Registers the `arithmetic` dataset. Light: rows are generated only by the factory."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import DatasetSpec, hookimpl


@hookimpl
def tk_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="arithmetic",
            summary="400 arithmetic prompts with a `solution` column, for GRPO (small, add, sub, mul)",
            subsets=("small", "add", "sub", "mul"),
            factory="tunekite_arithmetic.data:load",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
