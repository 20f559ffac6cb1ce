"""Training through a tokenizer's own Jinja chat template (`--template_backend jinja`).

The template is a black box, so the trained spans are found the way TRL and axolotl
find assistant masks: by rendering growing prefixes of the conversation. For each
reply, the conversation before it rendered with `add_generation_prompt=True` ends where
the reply starts; the conversation up to it ends after the reply and its end-of-turn
marker (found by rendering a sentinel reply). Both must be prefixes of the whole
conversation's rendering, otherwise the template rewrites earlier turns (Qwen3 drops
the thinking blocks of history) and the conversation is refused, naming the reply.
The result is the same typed `Piece`s registered templates produce, so loss scales,
tokenization and truncation are shared.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from tunekite.templates.format import ChatFormat
from tunekite.templates.loss_scale import Piece

_SENTINEL = "\u2063TK-REPLY\u2063"
_FIRST_RUN = re.compile(r"\s*\S+")


class JinjaRenderError(ValueError):
    """The chat template cannot be trained through for this conversation, and why."""


def jinja_format(tokenizer: Any) -> ChatFormat:
    """The format a jinja-backed template reports: its end-of-turn marker taken from a
    rendered sentinel reply (so stop words and `tk check template` know it)."""
    probe = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _SENTINEL}]
    end = end_marker(tokenizer, _render(tokenizer, probe, None).split(_SENTINEL, 1)[-1])
    return ChatFormat(name="jinja", user="{content}", assistant_header="", assistant_end=end)


def end_marker(tokenizer: Any, tail: str) -> str:
    """The end-of-turn marker at the start of what follows a reply: the first special token
    (`<|im_end|>` of `<|im_end|>\\n`), else the first run of non-blank text (` </s>`)."""
    stripped = tail.lstrip()
    lead = tail[: len(tail) - len(stripped)]
    specials = sorted(getattr(tokenizer, "all_special_tokens", []) or [], key=len, reverse=True)
    for token in specials:
        if token and stripped.startswith(token):
            return lead + token
    run = _FIRST_RUN.match(tail)
    return run.group(0) if run else ""


def openai_messages(messages: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Canonical rows (`tool_call`/`tool_response` roles) as chat templates expect them
    (an assistant message with `tool_calls`, a `tool` message)."""
    out: list[dict[str, Any]] = []
    for i, message in enumerate(messages):
        role, content = message["role"], message["content"]
        if role == "tool_call":
            try:
                call = json.loads(content)
            except ValueError:
                raise JinjaRenderError(
                    f"message {i}: a tool_call must be a JSON object, got {content[:60]!r}"
                ) from None
            calls = [{"type": "function", "function": call}]
            out.append({"role": "assistant", "content": "", "tool_calls": calls})
        elif role == "tool_response":
            out.append({"role": "tool", "content": content})
        else:
            out.append({"role": role, "content": content})
    return out


def jinja_pieces(
    tokenizer: Any, messages: Sequence[Mapping[str, str]], tools: list[Any] | None, system: str | None
) -> list[Piece]:
    """The conversation as pieces whose trained ones are exactly each reply plus its
    end-of-turn marker, cut from the tokenizer's own rendering (see the module docstring)."""
    msgs = openai_messages(messages)
    if system is not None and not (msgs and msgs[0]["role"] == "system"):
        msgs.insert(0, {"role": "system", "content": system})
    full = _render(tokenizer, msgs, tools)
    rounds = max(sum(m["role"] == "user" for m in msgs), 1)
    out: list[tuple[str, str, int]] = []
    cursor, round_, reply = 0, -1, 0
    for i, message in enumerate(msgs):
        if message["role"] == "user":
            round_ += 1
        if message["role"] != "assistant":
            continue
        reply += 1
        prompt = _render(tokenizer, msgs[:i], tools, generation=True)
        upto = _render(tokenizer, msgs[: i + 1], tools)
        probe = _render(tokenizer, [*msgs[:i], {"role": "assistant", "content": _SENTINEL}], tools)
        tail = probe.split(_SENTINEL)[-1] if _SENTINEL in probe else ""
        if not (upto.startswith(prompt) and upto.endswith(tail)) or len(prompt) < cursor:
            raise JinjaRenderError(
                f"reply {reply} (message {i}): the chat template does not render it after the "
                "generation prompt of the conversation before it"
            )
        text = upto[len(prompt) : len(upto) - len(tail)]
        end = end_marker(tokenizer, tail)
        if not end:
            raise JinjaRenderError(
                f"reply {reply} (message {i}): the chat template writes no end-of-turn marker after "
                "it, so a model trained on it would not learn to stop; pass --template"
            )
        if not full.startswith(prompt + text + end):
            raise JinjaRenderError(
                f"reply {reply} (message {i}): the chat template renders it differently once later "
                "turns follow (it rewrites history, e.g. drops thinking blocks), so its trained "
                "tokens are not those of the whole conversation; train with a registered --template "
                "or split the conversation"
            )
        turn = max(round_, 0)
        out += [("user", full[cursor : len(prompt)], turn), ("assistant", text, turn), ("end", end, turn)]
        cursor = len(prompt) + len(text) + len(end)
    out.append(("sep", full[cursor:], max(round_, 0)))
    last = rounds - 1
    return [Piece(kind, text, r, r == last) for kind, text, r in out if text]


def _render(tokenizer: Any, messages: list[dict[str, Any]], tools: Any, *, generation: bool = False) -> str:
    if not messages:
        return ""
    try:
        return tokenizer.apply_chat_template(
            messages, tools=tools or None, add_generation_prompt=generation, tokenize=False
        )
    except Exception as exc:  # jinja2 errors and the template's own raise_exception
        raise JinjaRenderError(f"the tokenizer's chat template failed: {exc}") from None
