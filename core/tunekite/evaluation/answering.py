"""How an evaluation gets its answers: an `Answerer` turns conversations into replies,
either through an inference engine in this process (`--infer_backend`, batched by
`--max_batch_size`) or through a running OpenAI-compatible server (`--eval_url`,
`--eval_num_proc` requests at a time), so evaluators never know which."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunekite.engines.protocol import ChatRequest, Engine

Conversation = Sequence[Mapping[str, Any]]
Answerer = Callable[..., list[str]]
"""`answer(conversations, **overrides) -> replies`, one reply per conversation, in order;
`overrides` replace the run's generation settings for this call (`stop=("\\n\\n",)`,
`max_tokens=256`: what a benchmark prescribes)."""


def engine_answerer(engine: Engine, settings: Mapping[str, Any], batch_size: int) -> Answerer:
    """Replies from `engine`, `batch_size` conversations per `infer` call."""

    def answer(conversations: Sequence[Conversation], **overrides: Any) -> list[str]:
        fields = {**settings, **overrides}
        replies: list[str] = []
        for start in range(0, len(conversations), max(batch_size, 1)):
            chunk = conversations[start : start + max(batch_size, 1)]
            requests = [ChatRequest(messages=list(c), **fields) for c in chunk]
            replies += [response.text for response in engine.infer(requests)]
        return replies

    return answer


def url_answerer(url: str, settings: Mapping[str, Any], *, num_proc: int, api_key: str | None) -> Answerer:
    """Replies from the server at `url` (`http://127.0.0.1:8000/v1`), `num_proc` requests
    in flight (`tunekite.engines.client`)."""
    from tunekite.engines.client import ClientEngine

    engine = ClientEngine(url, api_key=api_key, concurrency=num_proc, option="--eval_url")
    return engine_answerer(engine, settings, batch_size=max(num_proc, 1) * 8)
