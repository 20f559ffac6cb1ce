"""Registers `gemma`: `<bos><start_of_turn>user\\n...<end_of_turn>\\n<start_of_turn>model\\n...`.

Gemma has no system role: a system prompt opens the first user turn, followed by a blank
line, as the Gemma 3 chat template does (Gemma 2's template refuses system messages).
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

GEMMA = ChatFormat(
    name="gemma",
    bos="{bos}",
    user="<start_of_turn>user\n{content}<end_of_turn>\n",
    system_in_user="{system}\n\n{content}",
    assistant_header="<start_of_turn>model\n",
    assistant_end="<end_of_turn>",
    turn_sep="\n",
    stop_words=("<eos>",),
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=GEMMA,
            summary="Gemma turns (<start_of_turn>user/model ... <end_of_turn>), system in first user turn",
            chat_template_markers=("<start_of_turn>", "<end_of_turn>"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
