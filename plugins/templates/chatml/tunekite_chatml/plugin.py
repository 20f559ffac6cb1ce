"""Registers `chatml` (no default system) and `smollm2` (ChatML with SmolLM2's default system)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

CHATML = ChatFormat(
    name="chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
    tool_response="<|im_start|>tool\n{content}<|im_end|>\n",
)

SMOLLM2 = replace(
    CHATML,
    name="smollm2",
    default_system="You are a helpful AI assistant named SmolLM, trained by Hugging Face",
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=CHATML,
            summary="ChatML turns (<|im_start|>role ... <|im_end|>), no default system",
            chat_template_markers=("<|im_start|>", "<|im_end|>"),
        )
    )
    register(
        TemplateSpec(
            format=SMOLLM2,
            summary="ChatML with SmolLM2's default system prompt",
            chat_template_markers=("<|im_start|>", "<|im_end|>", "named SmolLM"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
