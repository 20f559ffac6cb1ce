"""Registers `qwen` (Qwen2), `qwen2_5` (Qwen2.5) and `qwen3` (Qwen3 with thinking tags).

All three are ChatML; the names follow ms-swift 3.x. Qwen2 and Qwen2.5 differ only in the
default system their chat templates write when a conversation has none. Qwen3 has no
default system and wraps the reasoning of the replies after the last user query in
`<think>...</think>`, writing an empty block when there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

QWEN = ChatFormat(
    name="qwen",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
    tool_response="<|im_start|>user\n{content}<|im_end|>\n",
    default_system="You are a helpful assistant.",
    stop_words=("<|endoftext|>",),
)

QWEN2_5 = replace(
    QWEN,
    name="qwen2_5",
    default_system="You are Qwen, created by Alibaba Cloud. You are a helpful assistant.",
)


def split_think(content: str) -> tuple[str, str]:
    """`(reasoning, answer)` of a reply, split as Qwen3's chat template does."""
    if "</think>" not in content:
        return "", content
    reasoning = content.split("</think>")[0].rstrip("\n").split("<think>")[-1].lstrip("\n")
    return reasoning, content.split("</think>")[-1].lstrip("\n")


class ThinkingChatFormat(ChatFormat):
    """ChatML whose final reply keeps its `<think>` block (empty when it has none) and
    whose earlier replies drop theirs, as Qwen3's template renders history."""

    def assistant_text(self, content: str, *, last_round: bool) -> str:
        reasoning, answer = split_think(content)
        if not last_round:
            return answer
        return f"<think>\n{reasoning.strip(chr(10))}\n</think>\n\n{answer}"


QWEN3 = ThinkingChatFormat(
    name="qwen3",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
    tool_response="<|im_start|>user\n{content}<|im_end|>\n",
    stop_words=("<|endoftext|>",),
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=QWEN,
            summary="Qwen2 ChatML with the default system 'You are a helpful assistant.'",
            chat_template_markers=("<|im_start|>", "<|im_end|>", "You are a helpful assistant."),
        )
    )
    register(
        TemplateSpec(
            format=QWEN2_5,
            summary="Qwen2.5 ChatML with the default system 'You are Qwen, created by Alibaba Cloud. ...'",
            chat_template_markers=(
                "<|im_start|>",
                "<|im_end|>",
                "You are a helpful assistant.",
                "You are Qwen, created by Alibaba Cloud",
            ),
        )
    )
    register(
        TemplateSpec(
            format=QWEN3,
            summary="Qwen3 ChatML with <think> tags on the final reply, dropped from history",
            chat_template_markers=("<|im_start|>", "<|im_end|>", "<think>", "last_query_index"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
