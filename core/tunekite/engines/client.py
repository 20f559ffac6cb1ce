"""An engine whose replies come from a running OpenAI-compatible server (`tk run deploy`,
vLLM's, a provider's), through the `openai` client: `tk run eval --eval_url` and `tk run
sample --sampler_engine client` use it, so what calls `Engine.infer` never knows the model
is elsewhere. Conversations go to chat completions; a `ChatRequest.prompt` (text or token
ids, as MCTS continues a partial answer) to completions, which OpenAI's API accepts as
either. `concurrency` requests are in flight at a time."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunekite.engines.protocol import ChatRequest, ChatResponse
from tunekite.errors import ArgumentError, TunekiteError

SAMPLING = ("max_tokens", "temperature", "top_p", "seed")
"""ChatRequest fields OpenAI's API takes as they are; top_k and repetition_penalty go in
the request's extra body, which vLLM's and TuneKite's servers read."""
EXTRA = ("top_k", "repetition_penalty")


class ClientEngine:
    """`infer` over the server at `base_url` (`http://127.0.0.1:8000/v1`); the model asked
    for is a request's `adapter` when it names one, else the first one `/v1/models` lists.
    `option` is the argument that gave the URL, for the errors."""

    def __init__(self, base_url: str, *, api_key: str | None, concurrency: int, option: str) -> None:
        try:
            import openai
        except ImportError:
            raise ArgumentError(f"{option} needs the openai client: pip install 'tunekite[serve]'") from None
        self.openai, self.option, self.base_url = openai, option, base_url
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key or "EMPTY", max_retries=0, timeout=600)
        self.concurrency = max(concurrency, 1)
        try:
            self.model = self.client.models.list().data[0].id
        except (openai.APIConnectionError, openai.APIStatusError, IndexError) as exc:
            raise ArgumentError(
                f"{option} {base_url}: no OpenAI-compatible server answers there ({exc})"
            ) from None

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        for request in requests:
            if request.num_beams != 1 or request.logprobs or request.n != 1:
                raise ArgumentError(
                    f"{self.option}: beam search, logprobs and n > 1 are not sent to a server; "
                    "use an engine in this process"
                )
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, request: ChatRequest) -> ChatResponse:
        options: dict[str, Any] = {
            k: getattr(request, k) for k in SAMPLING if getattr(request, k) is not None
        }
        if request.stop:
            options["stop"] = list(request.stop)
        extra = {k: getattr(request, k) for k in EXTRA if getattr(request, k) is not None}
        model = request.adapter or self.model
        try:
            if request.prompt is not None:
                prompt = request.prompt if isinstance(request.prompt, str) else list(request.prompt)
                reply = self.client.completions.create(
                    model=model, prompt=prompt, extra_body=extra or None, **options
                )
                text = reply.choices[0].text
            else:
                reply = self.client.chat.completions.create(
                    model=model,
                    messages=[dict(m) for m in request.messages],
                    tools=request.tools or self.openai.NOT_GIVEN,
                    extra_body=extra or None,
                    **options,
                )
                text = reply.choices[0].message.content or ""
        except (self.openai.APIConnectionError, self.openai.APIStatusError) as exc:
            raise TunekiteError(
                f"{self.option} {self.base_url}: the server failed a request ({exc})"
            ) from None
        usage = reply.usage
        return ChatResponse(
            text=text,
            finish_reason="length" if reply.choices[0].finish_reason == "length" else "stop",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )
