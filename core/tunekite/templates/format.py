"""How a chat-template family lays out a conversation, as literal text pieces.

A `ChatFormat` is plain, frozen data, cheap to import: template plugins declare one
at module level and register `TemplateSpec(format=FORMAT, summary=...)`. The encoder
that turns it into token ids (`tunekite.templates.encoder`) imports this module, never
the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True, kw_only=True)
class ChatFormat:
    """The text around each message; `{content}` stands for the message's text, and
    `{bos}`/`{eos}` for the tokenizer's own BOS/EOS tokens.

    A conversation renders as `bos`, the system piece, then for each round the user
    piece, `assistant_header`, the assistant piece, `assistant_end` and `turn_sep`.
    Only the assistant piece and `assistant_end` (the end-of-turn or EOS token) are
    trained by default; `assistant_header` doubles as the generation prompt.
    """

    name: str
    user: str
    assistant_header: str
    assistant_end: str
    bos: str = ""
    system: str | None = None
    """The system piece; None when the family has no system role (see `system_in_user`)."""
    system_in_user: str = "{system}\n\n{content}"
    """How a system prompt joins the first user message when `system` is None."""
    assistant: str = "{content}"
    turn_sep: str = ""
    """Untrained text after `assistant_end`, before the next turn."""
    tool_response: str | None = None
    """A tool result as a turn of its own; None keeps it inside the assistant turn."""
    user_after_reply: str | None = None
    """The user piece right after a reply whose `assistant_end` already opened the next
    turn (GLM4 ends a reply with the `<|user|>` that starts the next one); None: `user`."""
    always_system: bool = False
    """Write the system piece even with no system prompt (empty `{content}`), as Llama 3.1
    always writes its dated system header."""
    suffix: str = ""
    """Untrained text that closes a whole conversation, never a generation prompt (Phi-3's
    chat template ends a conversation with EOS)."""
    default_system: str | None = None
    stop_words: tuple[str, ...] = ()
    jinja_parity: bool = True
    """Renders exactly as the family's own `apply_chat_template`; the conformance suite checks it."""

    def for_tokenizer(self, tokenizer: Any) -> ChatFormat:
        """`{bos}` and `{eos}` in any piece become the tokenizer's own tokens."""
        tokens = {"{bos}": tokenizer.bos_token or "", "{eos}": tokenizer.eos_token or ""}
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, str) and any(t in value for t in tokens):
                for token, text in tokens.items():
                    value = value.replace(token, text)
                changes[f.name] = value
        return replace(self, **changes) if changes else self

    def assistant_text(self, content: str, *, last_round: bool) -> str:
        """The assistant message as rendered; families with reasoning tags override this."""
        return content
