"""Registers the `self-cognition` dataset. Light: the rows are read only by the factory."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import DatasetSpec, hookimpl


@hookimpl
def tk_register_datasets(register: Callable[[DatasetSpec], None]) -> None:
    register(
        DatasetSpec(
            name="self-cognition",
            summary="Who-are-you questions answered with --model_name and --model_author (zh, en)",
            subsets=("zh", "en"),
            factory="tunekite_self_cognition.data:load",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
