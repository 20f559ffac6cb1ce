"""How an evaluation gets its answers: an `Answerer` turns conversations into replies,
either through an inference engine in this process (`--infer_backend`, batched by
`--max_batch_size`) or through a running OpenAI-compatible server (`--eval_url`,
`--eval_num_proc` requests at a time), so evaluators never know which."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tunekite.engines.protocol import ChatRequest, Engine
from tunekite.errors import ArgumentError

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
    """Replies from the server at `url` (`http://127.0.0.1:8000/v1`), through the `openai`
    client, `num_proc` requests in flight; the model asked for is the first `/v1/models` lists."""
    try:
        import openai
    except ImportError:
        raise ArgumentError("--eval_url needs the openai client: pip install 'tunekite[serve]'") from None
    client = openai.OpenAI(base_url=url, api_key=api_key or "EMPTY", max_retries=0, timeout=600)
    try:
        model = client.models.list().data[0].id
    except (openai.APIConnectionError, openai.APIStatusError, IndexError) as exc:
        raise ArgumentError(f"--eval_url {url}: no OpenAI-compatible server answers there ({exc})") from None

    def answer(conversations: Sequence[Conversation], **overrides: Any) -> list[str]:
        fields = {**settings, **overrides}
        options = {k: fields.get(k) for k in ("max_tokens", "temperature", "top_p", "seed")}
        options["stop"] = list(fields.get("stop") or ()) or None
        options = {k: v for k, v in options.items() if v is not None}
        extra = {k: fields[k] for k in ("top_k", "repetition_penalty") if fields.get(k) is not None}

        def one(conversation: Conversation) -> str:
            reply = client.chat.completions.create(
                model=model, messages=[dict(m) for m in conversation], extra_body=extra or None, **options
            )
            return reply.choices[0].message.content or ""

        with ThreadPoolExecutor(max_workers=max(num_proc, 1)) as pool:
            return list(pool.map(one, conversations))

    return answer
