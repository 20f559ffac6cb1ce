"""Registers the `ollama` exporter. Light on purpose: the tokenizer loads only in the factory."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ExporterSpec, hookimpl


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    register(
        ExporterSpec(
            name="ollama",
            summary="An Ollama Modelfile (template, system, stops) next to the GGUF or model folder",
            factory="tunekite_ollama.modelfile:export",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
