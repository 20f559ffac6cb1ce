"""The contract every inference engine meets: OpenAI-shaped chat requests and responses.

Light on purpose (no torch): the server and plugins build requests without loading a model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(kw_only=True)
class ChatRequest:
    """One chat completion; None means "the engine's default" (e.g. the model's generation config)."""

    messages: list[dict[str, str]]
    tools: Any = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    num_beams: int = 1
    stop: Sequence[str] = ()
    logprobs: bool = False
    top_logprobs: int | None = None
    seed: int | None = None
    adapter: str | None = None


@dataclass
class ChatResponse:
    text: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[dict[str, Any]] | None = field(default=None)


class Engine(Protocol):
    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Answer every request (batched as the engine sees fit), in order."""

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """The reply to one request as text deltas."""


def request_from_generation(
    messages: list[dict[str, str]], generation: Any, tools: Any = None
) -> ChatRequest:
    """A request carrying core's generation arguments (`--max_new_tokens`, `--temperature`, ...)."""
    return ChatRequest(
        messages=messages,
        tools=tools,
        max_tokens=generation.max_new_tokens,
        temperature=generation.temperature,
        top_p=generation.top_p,
        top_k=generation.top_k,
        repetition_penalty=generation.repetition_penalty,
        num_beams=generation.num_beams,
        stop=tuple(generation.stop_words),
        logprobs=generation.logprobs,
        top_logprobs=generation.top_logprobs,
    )
