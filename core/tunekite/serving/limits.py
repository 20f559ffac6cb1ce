"""Requests that cannot fit the engine's context are refused before they queue.

A prompt is measured once, off the event loop, and handed to the engine as token ids, so
what was checked is what runs. A prompt far too long to ever fit (a megabyte of text against
a few thousand tokens) is refused from its length in characters alone, without tokenizing
it: every token spells at most `longest` characters, so N characters are at least N/longest
tokens (halved once more, for normalizers that compose characters).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from tunekite.engines.protocol import ChatRequest
from tunekite.errors import TunekiteError
from tunekite.serving.schemas import APIError

CODE = "context_length_exceeded"


class ContextLimit:
    """The context of an engine with `context_length` and `prompt_ids(request)` (the pt
    engine); an engine without them checks its own requests (vLLM does)."""

    def __init__(self, engine: Any) -> None:
        self.context: int | None = getattr(engine, "context_length", None)
        self.prompt_ids = getattr(engine, "prompt_ids", None)
        tokenizer = getattr(engine, "tokenizer", None)
        vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
        self.longest = max(map(len, vocab), default=0)
        """The most characters one token spells (0: unknown, no early refusal)."""

    async def admit(self, request: ChatRequest, param: str) -> ChatRequest:
        """`request` with its prompt as token ids; 400 when the prompt does not fit the
        context, or `max_tokens` more than the context leaves after it."""
        if self.context is None or self.prompt_ids is None:
            return request
        chars = _characters(request)
        if self.longest and chars > 2 * self.longest * self.context:
            least = chars // (2 * self.longest)
            raise APIError(
                400,
                f"The prompt is longer than the model's context of {self.context} tokens: its {chars} "
                f"characters make at least {least} tokens.",
                code=CODE,
                param=param,
            )
        try:
            ids = await asyncio.to_thread(self.prompt_ids, request)
        except TunekiteError as exc:  # a conversation the template cannot render
            raise APIError(400, str(exc), param=param) from None
        if len(ids) >= self.context:
            raise APIError(
                400,
                f"The prompt is {len(ids)} tokens; the model's context is {self.context} tokens "
                "(prompt and reply together).",
                code=CODE,
                param=param,
            )
        room = self.context - len(ids)
        if request.max_tokens is not None and request.max_tokens > room:
            raise APIError(
                400,
                f"max_tokens is {request.max_tokens}, but the model's context of {self.context} tokens "
                f"leaves {room} after the prompt's {len(ids)}.",
                code=CODE,
                param="max_tokens",
            )
        return dataclasses.replace(request, prompt=ids)


def _characters(request: ChatRequest) -> int:
    """The characters of what the prompt is made of (the template adds more)."""
    if request.prompt is not None:
        return len(request.prompt) if isinstance(request.prompt, str) else 0
    text = sum(len(str(m.get("content") or "")) for m in request.messages)
    return text + (len(json.dumps(request.tools)) if request.tools else 0)
