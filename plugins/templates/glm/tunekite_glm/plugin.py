"""Registers `glm4`: GLM-4-9B-Chat (`[gMASK]<sop><|system|>\\n...<|user|>\\n...<|assistant|>\\n...`).

GLM-4 has no end-of-turn token: a reply ends where the next `<|user|>` begins, and the
model stops on `<|user|>` (one of its EOS ids). So the trained end of a reply is that
`<|user|>`, which also opens the next user turn (written once, as the chat template
does). The generation prompt ends at `<|assistant|>`, and the model writes the newline
after it, so the newline is part of the trained reply. Tool results come back as a user
turn (GLM-4's `<|observation|>` role would follow a reply ended by `<|user|>`).
"""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import ChatFormat, TemplateSpec, hookimpl

GLM4 = ChatFormat(
    name="glm4",
    bos="[gMASK]<sop>",
    system="<|system|>\n{content}",
    user="<|user|>\n{content}",
    user_after_reply="\n{content}",
    assistant_header="<|assistant|>",
    assistant="\n{content}",
    assistant_end="<|user|>",
    stop_words=("<|endoftext|>", "<|observation|>"),
    jinja_parity=False,
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    register(
        TemplateSpec(
            format=GLM4,
            summary="GLM-4 chat: [gMASK]<sop><|system|> ... <|user|> ... <|assistant|> reply <|user|>",
            # glm-4-9b-chat writes roles as `<|{{ item['role'] }}|>`: only `<|assistant|>` is literal
            chat_template_markers=("[gMASK]<sop>", "<|assistant|>"),
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
