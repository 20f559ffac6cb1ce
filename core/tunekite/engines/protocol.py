"""The request/response contract every inference engine speaks, shaped like OpenAI chat
completions so a server can map it one to one.

Plain dataclasses and a `Protocol`: importing this module imports nothing heavy, so
tasks, plugins and servers can build requests before any engine exists.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable


@dataclass(kw_only=True)
class ChatRequest:
    """One conversation to continue. `None` settings fall back to the model's
    generation_config.json; `temperature=0` means greedy decoding.

    `stop` adds stop strings to the template's own; unlike the template's end-of-turn and
    EOS, which are removed from the reply, they stay in it (ms-swift's behaviour).
    `adapter` names a loaded adapter of a multi-adapter model (None: the engine's default).
    `prompt`, when set, is continued without the template (OpenAI completions): raw text,
    tokenized as a completions API does (with the tokenizer's special tokens, e.g. BOS), or
    token ids, used as they are (text a template already rendered, as GRPO's prompts are);
    `messages` is then ignored.
    """

    messages: Sequence[Mapping[str, Any]]
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
    n: int = 1
    seed: int | None = None
    adapter: str | None = None
    prompt: str | Sequence[int] | None = None


@dataclass(kw_only=True)
class TokenLogprob:
    """A generated token's log probability and, when asked for, its strongest alternatives
    (OpenAI's `logprobs.content[i]`)."""

    token: str
    logprob: float
    top_logprobs: list[TokenLogprob] = field(default_factory=list)


@dataclass(kw_only=True)
class ChatResponse:
    """The reply: text with the end-of-turn removed, why it ended, and token usage.
    `token_ids` are the completion's token ids as generated (`completion_tokens` of them,
    the end-of-turn or EOS it stopped at included), when the engine has them."""

    text: str
    finish_reason: Literal["stop", "length"]
    prompt_tokens: int
    completion_tokens: int
    logprobs: list[TokenLogprob] | None = None
    token_ids: list[int] | None = None


@runtime_checkable
class Engine(Protocol):
    """What `tk run infer` (and later the server) needs from an engine. Engines that can
    change their LoRA adapters while running also have `load_adapter(name, folder)` and
    `unload_adapter(name)` (used by `tk run deploy`'s /v1/adapters and GRPO's `--use_vllm`).
    Engines that know their context have `context_length` (tokens, prompt and reply) and
    `prompt_ids(request)`, so a server can refuse a prompt that cannot fit before it queues.
    `infer_batch(requests, streamer, cancelled)` (see `tunekite.engines.batching`) stops the
    rows `cancelled()` names, so a request whose client left stops generating."""

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One response per request, in order; the engine batches as it sees fit."""
        ...

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """The reply as text deltas, which join to what `infer` returns for it."""
        ...


def request_prompt_ids(request: ChatRequest, template: Any, tokenizer: Any) -> list[int]:
    """The token ids a request's reply continues: its conversation rendered by `template`
    (a `tunekite.api.Template`), or its `prompt` (see `ChatRequest`)."""
    if request.prompt is None:
        return template.prompt_ids(request.messages, request.tools)
    if isinstance(request.prompt, str):
        return tokenizer(request.prompt)["input_ids"]
    return [int(token) for token in request.prompt]


def generation_settings(generation: Any) -> dict[str, Any]:
    """`ChatRequest` fields from core's `GenerationArguments` (`--max_new_tokens` is
    `max_tokens`, `--stop_words` is `stop`), so every task maps them the same way."""
    return {
        "max_tokens": generation.max_new_tokens,
        "temperature": generation.temperature,
        "top_p": generation.top_p,
        "top_k": generation.top_k,
        "repetition_penalty": generation.repetition_penalty,
        "num_beams": generation.num_beams,
        "stop": tuple(generation.stop_words),
        "logprobs": generation.logprobs,
        "top_logprobs": generation.top_logprobs,
    }


def request_from_generation(
    messages: Sequence[Mapping[str, Any]], generation: Any, tools: Any = None
) -> ChatRequest:
    """A request for `messages` carrying the run's generation arguments."""
    return ChatRequest(messages=messages, tools=tools, **generation_settings(generation))
