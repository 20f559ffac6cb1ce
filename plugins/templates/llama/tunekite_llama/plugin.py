"""Registers `llama` (Llama-2 chat), `llama3` (Llama 3) and `llama3_1` (Llama 3.1/3.2/3.3).

Llama-2 folds the system prompt into the first `[INST]` in `<<SYS>>` tags and wraps every
round in BOS ... EOS. Llama 3 uses role headers ended by `<|eot_id|>`; Llama 3.1 always
writes a system header that starts with its knowledge cut-off and a date (the chat
template's default date, 26 Jul 2024, so training text does not change from day to day).
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

LLAMA2 = ChatFormat(
    name="llama",
    user="{bos}[INST] {content} [/INST]",
    system_in_user="<<SYS>>\n{system}\n<</SYS>>\n\n{content}",
    assistant_header="",
    assistant=" {content} ",
    assistant_end="{eos}",
)

LLAMA3 = ChatFormat(
    name="llama3",
    bos="{bos}",
    system="<|start_header_id|>system<|end_header_id|>\n\n{content}<|eot_id|>",
    user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
    assistant_header="<|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant_end="<|eot_id|>",
    stop_words=("<|end_of_text|>",),
)

LLAMA3_1_DATE = "Cutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"

LLAMA3_1 = ChatFormat(
    name="llama3_1",
    bos="{bos}",
    system="<|start_header_id|>system<|end_header_id|>\n\n" + LLAMA3_1_DATE + "{content}<|eot_id|>",
    always_system=True,
    user="<|start_header_id|>user<|end_header_id|>\n\n{content}<|eot_id|>",
    assistant_header="<|start_header_id|>assistant<|end_header_id|>\n\n",
    assistant_end="<|eot_id|>",
    tool_response="<|start_header_id|>ipython<|end_header_id|>\n\n{content}<|eot_id|>",
    stop_words=("<|end_of_text|>", "<|eom_id|>"),
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=LLAMA2,
            summary="Llama-2 chat: <s>[INST] <<SYS>> system <</SYS>> query [/INST] reply </s>",
            chat_template_markers=("[INST]", "[/INST]", "<<SYS>>"),
        )
    )
    register(
        TemplateSpec(
            format=LLAMA3,
            summary="Llama 3 role headers (<|start_header_id|>role<|end_header_id|>) ended by <|eot_id|>",
            chat_template_markers=("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
        )
    )
    register(
        TemplateSpec(
            format=LLAMA3_1,
            summary="Llama 3.1 headers with the dated system header ('Cutting Knowledge Date ...')",
            chat_template_markers=(
                "<|start_header_id|>",
                "<|end_header_id|>",
                "<|eot_id|>",
                "Cutting Knowledge Date",
            ),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
