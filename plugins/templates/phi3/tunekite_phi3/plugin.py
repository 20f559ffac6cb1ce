"""Registers `phi3`: `<|system|>\\n...<|end|>\\n<|user|>\\n...<|end|>\\n<|assistant|>\\n...<|end|>`.

Phi-3's chat template closes a whole conversation (not a generation prompt) with EOS;
it is written as an untrained suffix so ids match the template's.
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

PHI3 = ChatFormat(
    name="phi3",
    system="<|system|>\n{content}<|end|>\n",
    user="<|user|>\n{content}<|end|>\n",
    assistant_header="<|assistant|>\n",
    assistant_end="<|end|>",
    turn_sep="\n",
    suffix="{eos}",
    stop_words=("<|endoftext|>",),
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=PHI3,
            summary="Phi-3 / Phi-3.5 turns (<|system|>, <|user|>, <|assistant|>) ended by <|end|>",
            chat_template_markers=("<|user|>", "<|assistant|>", "<|end|>"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
