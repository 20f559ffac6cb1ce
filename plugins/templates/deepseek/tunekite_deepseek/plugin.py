"""Registers `deepseek` (DeepSeek-V2.5/V3 chat) and `deepseek_r1` (DeepSeek-R1).

`<｜begin▁of▁sentence｜>{system}<｜User｜>query<｜Assistant｜>reply<｜end▁of▁sentence｜>`.
R1 drops the reasoning (`...</think>`) of earlier replies from the history and, like
ms-swift's thinking templates, trains the final reply with its reasoning.
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

DEEPSEEK = ChatFormat(
    name="deepseek",
    bos="{bos}",
    system="{content}",
    user="<｜User｜>{content}",
    assistant_header="<｜Assistant｜>",
    assistant_end="{eos}",
)


class R1ChatFormat(ChatFormat):
    """Earlier replies lose everything up to `</think>`, as R1's chat template renders
    history; the final reply is trained as written, reasoning included."""

    def assistant_text(self, content: str, *, last_round: bool) -> str:
        return content if last_round else content.split("</think>")[-1]


DEEPSEEK_R1 = R1ChatFormat(
    name="deepseek_r1",
    bos="{bos}",
    system="{content}",
    user="<｜User｜>{content}",
    assistant_header="<｜Assistant｜>",
    assistant_end="{eos}",
    jinja_parity=False,
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=DEEPSEEK,
            summary="DeepSeek-V2.5/V3 chat: <｜User｜>query<｜Assistant｜>reply<｜end▁of▁sentence｜>",
            chat_template_markers=("<｜User｜>", "<｜Assistant｜>"),
        )
    )
    register(
        TemplateSpec(
            format=DEEPSEEK_R1,
            summary="DeepSeek-R1: DeepSeek chat, reasoning dropped from history, kept on the final reply",
            chat_template_markers=("<｜User｜>", "<｜Assistant｜>", "</think>"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
