"""The FastAPI app of `tk run deploy`: OpenAI's chat completions, completions and models
routes over an `AsyncEngine`, plus health and run-time adapter routes.

Each request becomes `ChatRequest`s (one per choice), checked against the engine's
context, for the async front, which batches concurrent ones; streamed replies are
server-sent events ending in `data: [DONE]`. A client that disconnects, mid-stream or while
waiting for a whole reply, stops its generation. Every error is an OpenAI error body without
exception text or paths (those go to the log), and leaves the connection usable.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from tunekite.engines.batching import AsyncEngine, ResponseStream
from tunekite.engines.protocol import ChatRequest, ChatResponse, TokenLogprob
from tunekite.errors import ArgumentError
from tunekite.serving.adapters import AdapterManager
from tunekite.serving.errors import CleanErrors, server_error
from tunekite.serving.limits import ContextLimit
from tunekite.serving.schemas import (
    APIError,
    ChatCompletionBody,
    CompletionBody,
    LoadAdapterBody,
    Sampling,
    UnloadAdapterBody,
    parse_body,
)

log = logging.getLogger("uvicorn.error")  # printed with uvicorn's own lines
T = TypeVar("T")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServeOptions:
    """What the deploy arguments say about serving (see `DeployArguments`)."""

    served_model_name: str
    owned_by: str = "tunekite"
    api_key: str | None = None
    max_logprobs: int = 20
    log_interval: float = 0.0
    adapter_dirs: tuple[str, ...] = ()
    """Folders adapters may be loaded from at run time (none: run-time loading is off)."""


def create_app(front: AsyncEngine, options: ServeOptions, adapters: dict[str, str] | None = None) -> FastAPI:
    """The server app; `adapters` maps names to the adapter folders already in the model
    (served as long as the server runs). `app.state.front` is the engine's front."""
    manager = AdapterManager(
        front, adapters or {}, reserved={options.served_model_name}, allowed_dirs=options.adapter_dirs
    )
    limit = ContextLimit(front.engine)
    created = int(time.time())

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        reporter = (
            asyncio.create_task(_report(front, options.log_interval)) if options.log_interval > 0 else None
        )
        yield
        if reporter is not None:
            reporter.cancel()
        front.close()

    open_docs = options.api_key is None  # the API's description is no one's business behind a key
    app = FastAPI(
        title="TuneKite",
        lifespan=lifespan,
        docs_url="/docs" if open_docs else None,
        redoc_url=None,
        openapi_url="/openapi.json" if open_docs else None,
    )
    app.state.front = front
    app.add_middleware(CleanErrors)

    def authorize(request: Request) -> None:
        if options.api_key is None:
            return
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), f"Bearer {options.api_key}".encode()):
            raise APIError(
                401, "Missing or invalid API key (Authorization: Bearer ...).", code="invalid_api_key"
            )

    @app.exception_handler(APIError)
    async def api_error(_: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(APIError(exc.status_code, str(exc.detail)).body(), status_code=exc.status_code)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models", dependencies=[Depends(authorize)])
    async def models() -> dict[str, Any]:
        def card(name: str, parent: str | None = None) -> dict[str, Any]:
            return {
                "id": name,
                "object": "model",
                "created": created,
                "owned_by": options.owned_by,
                "parent": parent,
            }

        base = options.served_model_name
        return {"object": "list", "data": [card(base), *(card(n, base) for n in manager.folders)]}

    @app.post("/v1/chat/completions", dependencies=[Depends(authorize)])
    async def chat_completions(request: Request) -> Any:
        body = parse_body(await request.body(), ChatCompletionBody)
        if body.top_logprobs is not None and body.top_logprobs > options.max_logprobs:
            raise APIError(
                400,
                f"top_logprobs may be at most {options.max_logprobs}, got {body.top_logprobs}",
                param="top_logprobs",
            )
        model = body.model or options.served_model_name
        base = _settings(body, manager.adapter_of(model))
        base["max_tokens"] = body.max_completion_tokens or body.max_tokens
        request_ = ChatRequest(
            messages=body.template_messages(),
            tools=body.tool_list(),
            logprobs=body.logprobs,
            top_logprobs=body.top_logprobs if body.logprobs else None,
            **base,
        )
        requests = [await limit.admit(request_, "messages")] * body.n
        if body.stream:
            return _sse(_chat_chunks(front, requests, model, _include_usage(body)))
        responses = await _unless_disconnected(request, _answers(front, requests))
        choices = [
            {
                "index": i,
                "message": {"role": "assistant", "content": r.text},
                "logprobs": _chat_logprobs(r.logprobs),
                "finish_reason": r.finish_reason,
            }
            for i, r in enumerate(responses)
        ]
        return _completion("chat.completion", "chatcmpl", model, choices, responses, per_prompt=body.n)

    @app.post("/v1/completions", dependencies=[Depends(authorize)])
    async def completions(request: Request) -> Any:
        body = parse_body(await request.body(), CompletionBody)
        if body.logprobs is not None and body.logprobs > options.max_logprobs:
            raise APIError(
                400, f"logprobs may be at most {options.max_logprobs}, got {body.logprobs}", param="logprobs"
            )
        model = body.model or options.served_model_name
        base = _settings(body, manager.adapter_of(model))
        wanted = body.logprobs is not None
        prompts = _prompts(body.prompt)
        admitted = [
            await limit.admit(
                ChatRequest(
                    messages=[], prompt=p, logprobs=wanted, top_logprobs=body.logprobs or None, **base
                ),
                "prompt",
            )
            for p in prompts
        ]
        requests = [r for r in admitted for _ in range(body.n)]
        if body.stream:
            return _sse(_text_chunks(front, requests, model, _include_usage(body), body.n))
        responses = await _unless_disconnected(request, _answers(front, requests))
        choices = [
            {
                "index": i,
                "text": r.text,
                "logprobs": _text_logprobs(r.logprobs),
                "finish_reason": r.finish_reason,
            }
            for i, r in enumerate(responses)
        ]
        return _completion("text_completion", "cmpl", model, choices, responses, per_prompt=body.n)

    @app.post("/v1/adapters/load", dependencies=[Depends(authorize)])
    async def load_adapter(request: Request) -> dict[str, Any]:
        body = parse_body(await request.body(), LoadAdapterBody)
        await manager.load(body.name, body.path)
        return {"id": body.name, "object": "model", "owned_by": options.owned_by, "path": body.path}

    @app.post("/v1/adapters/unload", dependencies=[Depends(authorize)])
    async def unload_adapter(request: Request) -> dict[str, Any]:
        body = parse_body(await request.body(), UnloadAdapterBody)
        await manager.unload(body.name)
        return {"id": body.name, "object": "model", "deleted": True}

    return app


# Requests ---------------------------------------------------------------------------------


def _settings(body: Sampling, adapter: str | None) -> dict[str, Any]:
    return {
        "max_tokens": body.max_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "top_k": body.top_k,
        "repetition_penalty": body.repetition_penalty,
        "stop": body.stop_words(),
        "seed": body.seed,
        "adapter": adapter,
    }


def _include_usage(body: Sampling) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


async def _answers(front: AsyncEngine, requests: list[ChatRequest]) -> list[ChatResponse]:
    """Every request's response; engine argument errors become 400s."""
    try:
        return list(await asyncio.gather(*(front.infer_async(r) for r in requests)))
    except ArgumentError as exc:
        raise APIError(400, str(exc)) from None


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, or, when the client goes away first, `work` cancelled (its
    generation stops) and a 499 nobody reads."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if task not in done:
        raise APIError(499, "The client closed the request.", code="client_closed")
    return task.result()


async def _disconnected(request: Request) -> None:
    """Returns once the client has disconnected (the body is already read, so the only
    message left to receive is the disconnect)."""
    while (await request.receive())["type"] != "http.disconnect":
        await asyncio.sleep(0.1)


def _prompts(prompt: str | list[str] | list[int] | list[list[int]]) -> list[str | list[int]]:
    """The prompts of a completions request, each a text or token ids; 400 for an empty one."""
    prompts = [prompt] if isinstance(prompt, str) or (prompt and isinstance(prompt[0], int)) else prompt
    for i, p in enumerate(prompts or [""]):
        if not p:
            raise APIError(400, "The prompt is empty.", param="prompt" if len(prompts) < 2 else f"prompt.{i}")
    return list(prompts)


def _usage(responses: list[ChatResponse], per_prompt: int) -> dict[str, int]:
    """Each prompt counts once, however many choices it has."""
    prompt = sum(r.prompt_tokens for r in responses[::per_prompt])
    completion = sum(r.completion_tokens for r in responses)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _completion(
    kind: str,
    prefix: str,
    model: str,
    choices: list[dict[str, Any]],
    responses: list[ChatResponse],
    *,
    per_prompt: int,
) -> dict[str, Any]:
    return {
        "id": f"{prefix}-{uuid.uuid4().hex}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": _usage(responses, per_prompt),
    }


def _chat_logprobs(logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
    if logprobs is None:
        return None

    def entry(t: TokenLogprob) -> dict[str, Any]:
        return {"token": t.token, "logprob": t.logprob, "bytes": list(t.token.encode())}

    return {"content": [{**entry(t), "top_logprobs": [entry(a) for a in t.top_logprobs]} for t in logprobs]}


def _text_logprobs(logprobs: list[TokenLogprob] | None) -> dict[str, Any] | None:
    """The legacy completions shape: parallel lists, alternatives as {token: logprob}."""
    if logprobs is None:
        return None
    offsets, position = [], 0
    for t in logprobs:
        offsets.append(position)
        position += len(t.token)
    return {
        "tokens": [t.token for t in logprobs],
        "token_logprobs": [t.logprob for t in logprobs],
        "top_logprobs": [{a.token: a.logprob for a in t.top_logprobs} for t in logprobs],
        "text_offset": offsets,
    }


# Streaming --------------------------------------------------------------------------------


def _sse(events: AsyncIterator[dict[str, Any]]) -> StreamingResponse:
    async def lines() -> AsyncIterator[str]:
        async for event in events:
            yield f"data: {json.dumps(event, ensure_ascii=False)}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(lines(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


async def _streamed(
    front: AsyncEngine,
    requests: list[ChatRequest],
    chunk: Callable[..., dict[str, Any]],
    include_usage: bool,
    per_prompt: int,
) -> AsyncIterator[dict[str, Any]]:
    """Chunks for every choice in turn (all are generated together, so later ones are
    read from their queues); each stream is closed when the client goes away."""
    streams: list[ResponseStream] = []
    try:
        streams += [front.stream_async(r) for r in requests]  # refused once the server shuts down
        for index, stream in enumerate(streams):
            yield chunk(index, first=True)
            async for delta in stream:
                yield chunk(index, delta=delta)
            response = stream.response
            assert response is not None
            yield chunk(index, response=response)
        if include_usage:
            done = [s.response for s in streams if s.response is not None]
            yield {**chunk(0, usage_only=True), "choices": [], "usage": _usage(done, per_prompt)}
    except ArgumentError as exc:
        yield APIError(400, str(exc)).body()
    except APIError as exc:  # the server shutting down
        yield exc.body()
    except Exception as exc:  # the stream has begun: the error goes in it, its text to the log
        yield server_error(exc).body()
    finally:
        for stream in streams:
            stream.close()


def _chat_chunks(
    front: AsyncEngine, requests: list[ChatRequest], model: str, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(
        index: int,
        *,
        first: bool = False,
        delta: str | None = None,
        response: ChatResponse | None = None,
        usage_only: bool = False,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": index, "delta": {}, "logprobs": None, "finish_reason": None}
        if first:
            choice["delta"] = {"role": "assistant", "content": ""}
        elif delta is not None:
            choice["delta"] = {"content": delta}
        elif response is not None:
            choice["finish_reason"] = response.finish_reason
            choice["logprobs"] = _chat_logprobs(response.logprobs)
        body = {"id": ident, "object": "chat.completion.chunk", "created": created, "model": model}
        return body if usage_only else {**body, "choices": [choice]}

    return _streamed(front, requests, chunk, include_usage, per_prompt=len(requests))


def _text_chunks(
    front: AsyncEngine, requests: list[ChatRequest], model: str, include_usage: bool, per_prompt: int
) -> AsyncIterator[dict[str, Any]]:
    ident, created = f"cmpl-{uuid.uuid4().hex}", int(time.time())

    def chunk(
        index: int,
        *,
        first: bool = False,
        delta: str | None = None,
        response: ChatResponse | None = None,
        usage_only: bool = False,
    ) -> dict[str, Any]:
        choice: dict[str, Any] = {
            "index": index,
            "text": delta or "",
            "logprobs": None,
            "finish_reason": None,
        }
        if response is not None:
            choice["finish_reason"] = response.finish_reason
            choice["logprobs"] = _text_logprobs(response.logprobs)
        body = {"id": ident, "object": "text_completion", "created": created, "model": model}
        return body if usage_only else {**body, "choices": [choice]}

    return _streamed(front, requests, chunk, include_usage, per_prompt)


# Statistics -------------------------------------------------------------------------------


async def _report(front: AsyncEngine, interval: float) -> None:
    """Every `interval` seconds: tokens/s since the last line, requests done and running."""
    stats = front.stats
    last = (time.monotonic(), stats.prompt_tokens, stats.completion_tokens)
    while True:
        await asyncio.sleep(interval)
        now = time.monotonic()
        elapsed = max(now - last[0], 1e-9)
        log.info(
            "prompt %.1f tokens/s, generation %.1f tokens/s, %d requests done, %d running",
            (stats.prompt_tokens - last[1]) / elapsed,
            (stats.completion_tokens - last[2]) / elapsed,
            stats.requests,
            stats.running,
        )
        last = (now, stats.prompt_tokens, stats.completion_tokens)
