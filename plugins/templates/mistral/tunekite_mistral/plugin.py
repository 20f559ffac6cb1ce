"""Registers `mistral`: Mistral-7B-Instruct v0.1/v0.2 (`<s> [INST] query [/INST] reply</s>`).

The system prompt joins the first user message, as the v0.2 chat template does. (v0.3's
template instead puts it before the last user message only, so a finished conversation
loses it; that layout is not reproduced.)
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

MISTRAL = ChatFormat(
    name="mistral",
    bos="{bos}",
    user=" [INST] {content} [/INST]",
    system_in_user="{system}\n\n{content}",
    assistant_header="",
    assistant=" {content}",
    assistant_end="{eos}",
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=MISTRAL,
            summary="Mistral-7B-Instruct v0.2: <s> [INST] system\\n\\nquery [/INST] reply</s>",
            chat_template_markers=("[INST]", "[/INST]"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
