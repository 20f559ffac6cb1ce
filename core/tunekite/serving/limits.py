"""Requests that cannot fit the engine's context are refused before they queue.

A prompt is measured once, off the event loop, and handed to the engine as token ids, so
what was checked is what runs. Tokenizing a megabyte takes seconds, so a long prompt is
probed first: when the first `PROBE` characters per context token of its text already make
well over the context (`MARGIN`, for tokens split where the probe ends), it is refused from
those alone; otherwise it is tokenized whole.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from tunekite.engines.protocol import ChatRequest
from tunekite.errors import TunekiteError
from tunekite.serving.schemas import APIError

PROBE = 6
"""Characters probed per token of context (text averages about 4 characters a token)."""
MARGIN = 1.25
"""How far over the context a probe must be to refuse the prompt without tokenizing it all."""
CODE = "context_length_exceeded"


class ContextLimit:
    """The context of an engine with `context_length` and `prompt_ids(request)` (the pt
    engine); an engine without them checks its own requests (vLLM does)."""

    def __init__(self, engine: Any) -> None:
        self.context: int | None = getattr(engine, "context_length", None)
        self.prompt_ids = getattr(engine, "prompt_ids", None)
        self.tokenizer = getattr(engine, "tokenizer", None)

    async def admit(self, request: ChatRequest, param: str) -> ChatRequest:
        """`request` with its prompt as token ids; 400 when the prompt does not fit the
        context, or `max_tokens` more than the context leaves after it."""
        if self.context is None or self.prompt_ids is None:
            return request
        text = _text(request)
        if self.tokenizer is not None and len(text) > PROBE * self.context:
            probe = text[: PROBE * self.context]
            least = await asyncio.to_thread(self._tokens, probe)
            if least > MARGIN * self.context:
                raise APIError(
                    400,
                    f"The prompt is longer than the model's context of {self.context} tokens: the first "
                    f"{len(probe)} of its {len(text)} characters alone are {least} tokens.",
                    code=CODE,
                    param=param,
                )
        try:
            ids = await asyncio.to_thread(self.prompt_ids, request)
        except TunekiteError as exc:  # a conversation the template cannot render
            raise APIError(400, str(exc), param=param) from None
        vocabulary = len(self.tokenizer) if self.tokenizer is not None else None
        wrong = [i for i in ids if i < 0 or (vocabulary is not None and i >= vocabulary)]
        if wrong:
            raise APIError(
                400, f"Token id {wrong[0]} is not in the model's vocabulary of {vocabulary}.", param=param
            )
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

    def _tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])


def _text(request: ChatRequest) -> str:
    """The text the prompt is made of (the template adds more)."""
    if request.prompt is not None:
        return request.prompt if isinstance(request.prompt, str) else ""
    text = "\n".join(str(m.get("content") or "") for m in request.messages)
    return text + (json.dumps(request.tools) if request.tools else "")
