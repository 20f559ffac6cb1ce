"""An asyncio front over an engine: concurrent requests generated together.

A server receives requests one by one, on an event loop, but a model answers a batch of
them for nearly the price of one. `AsyncEngine` queues what arrives, waits a few
milliseconds for requests that come together, and hands the oldest request's group
(requests with equal settings and adapter, up to `max_batch_size`) to one worker thread,
since `generate` is not re-entrant. Requests that arrive while a batch runs form the next.

Streaming a batch: engines with `infer_batch(requests, streamer)` and
`partial_reply(tokens, request)` (the pt engine) take a `BatchStreamer`, which receives
each step's `(batch,)` tokens and routes each row's new text to that request's queue.
Other engines stream one request at a time through their `stream`. A request nobody
waits for any more (its stream closed, its `infer_async` cancelled: the client left) is
dropped: a batch engine stops its row (`infer_batch(..., cancelled=)`), a streaming one
stops being read. `cancel_all` fails every request at once (a server shutting down).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from transformers.generation.streamers import BaseStreamer

from tunekite.engines.protocol import ChatRequest, ChatResponse, Engine

PER_ROW_FIELDS = ("messages", "tools", "prompt")
"""Request fields that may differ inside one batch; all others must be equal."""
_END = object()


def batch_key(request: ChatRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one `generate` call (same settings and adapter)."""
    return tuple(
        (f.name, _frozen(getattr(request, f.name)))
        for f in dataclasses.fields(request)
        if f.name not in PER_ROW_FIELDS
    )


def _frozen(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | tuple) else value


@dataclasses.dataclass(eq=False)
class _Job:
    """One request waiting for, or in, a batch; `queue` is set for streamed ones."""

    request: ChatRequest
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[ChatResponse]
    queue: asyncio.Queue[Any] | None = None
    dropped: bool = False

    def send(self, item: Any) -> None:
        """Thread-safe: a text delta, or `_END`, for a streamed job."""
        if self.queue is not None and not self.dropped:
            _call_soon(self.loop, self.queue.put_nowait, item)

    def finish(self, response: ChatResponse | None, error: BaseException | None = None) -> None:
        """Thread-safe: settle the job with its response or the batch's error."""

        def settle() -> None:
            if self.dropped:  # nobody listens; an unread error would only warn
                return
            if not self.future.done():
                if error is not None:
                    self.future.set_exception(error)
                else:
                    self.future.set_result(response)  # type: ignore[arg-type]
            if self.queue is not None:
                self.queue.put_nowait(_END)

        _call_soon(self.loop, settle)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
        loop.call_soon_threadsafe(callback, *args)


class ResponseStream:
    """`async for delta in stream` yields a reply's text deltas; afterwards `response`
    holds the whole `ChatResponse` (finish reason, usage, logprobs). `close()` tells the
    engine nobody listens any more."""

    def __init__(self, job: _Job) -> None:
        self._job = job
        self.response: ChatResponse | None = None

    def __aiter__(self) -> ResponseStream:
        return self

    async def __anext__(self) -> str:
        assert self._job.queue is not None
        item = await self._job.queue.get()
        if item is _END:
            self.response = await self._job.future
            raise StopAsyncIteration
        return item

    def close(self) -> None:
        self._job.dropped = True


@dataclasses.dataclass
class Stats:
    """Counters for the server's tokens/s lines."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    running: int = 0


class AsyncEngine:
    """Async `infer_async` / `stream_async` over an `Engine`, batching concurrent requests.

    `batch_wait` is how long an idle engine waits for more requests before starting a batch.
    `run_exclusive(fn)` runs `fn` on the generation thread, between batches (how adapters
    are loaded and unloaded while serving).
    """

    def __init__(
        self, engine: Engine, *, max_batch_size: int | None = None, batch_wait: float = 0.005
    ) -> None:
        self.engine = engine
        self.max_batch_size = max_batch_size or getattr(engine, "max_batch_size", 1)
        self.batch_wait = batch_wait
        self.stats = Stats()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tunekite-generate")
        self._pending: list[_Job] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self._running: list[_Job] = []
        self._closed: BaseException | None = None

    async def infer_async(self, request: ChatRequest) -> ChatResponse:
        """The response to one request, generated in a batch with its concurrent peers;
        cancelling the caller stops its generation."""
        job = self._submit(request, stream=False)
        try:
            return await job.future
        except asyncio.CancelledError:
            job.dropped = True
            raise

    def stream_async(self, request: ChatRequest) -> ResponseStream:
        """The reply's text deltas as they are generated; they join to `infer`'s text."""
        return ResponseStream(self._submit(request, stream=True))

    async def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """`fn()` on the generation thread, so it never runs during a batch."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def cancel_all(self, error: BaseException) -> None:
        """On the event loop: fail every waiting and generating request with `error`, stop
        their generation, and refuse new ones with it (a server shutting down)."""
        self._closed = error
        for job in [*self._pending, *self._running]:
            if not job.dropped:
                if not job.future.done():
                    job.future.set_exception(error)
                if job.queue is not None:
                    job.queue.put_nowait(_END)
            job.dropped = True
        self._pending = []

    def close(self) -> None:
        """Stop scheduling and let the generation thread finish its batch."""
        if self._scheduler is not None:
            self._scheduler.cancel()
        self._executor.shutdown(wait=False, cancel_futures=True)

    # Scheduling ---------------------------------------------------------------------------

    def _submit(self, request: ChatRequest, *, stream: bool) -> _Job:
        if self._closed is not None:
            raise self._closed
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # first use, or a new loop (e.g. one asyncio.run per test)
            self._loop, self._pending, self._wakeup = loop, [], asyncio.Event()
            self._scheduler = loop.create_task(self._schedule())
        job = _Job(request, loop, loop.create_future(), asyncio.Queue() if stream else None)
        self._pending.append(job)
        assert self._wakeup is not None
        self._wakeup.set()
        return job

    async def _schedule(self) -> None:
        assert self._wakeup is not None and self._loop is not None
        while True:
            await self._wakeup.wait()
            if len(self._pending) < self.max_batch_size:
                await asyncio.sleep(self.batch_wait)  # let requests that arrive together join
            self._wakeup.clear()
            batch = self._next_batch()
            if batch:
                await self._loop.run_in_executor(self._executor, self._run, batch)
            if self._pending:
                self._wakeup.set()

    def _next_batch(self) -> list[_Job]:
        """The oldest live request and the next ones with its key, up to `max_batch_size`."""
        self._pending = [j for j in self._pending if not (j.dropped or j.future.cancelled())]
        if not self._pending:
            return []
        key = batch_key(self._pending[0].request)
        batch = [j for j in self._pending if batch_key(j.request) == key][: self.max_batch_size]
        taken = set(map(id, batch))
        self._pending = [j for j in self._pending if id(j) not in taken]
        return batch

    # On the generation thread ---------------------------------------------------------------

    def _run(self, jobs: list[_Job]) -> None:
        self.stats.running = len(jobs)
        self._running = jobs
        try:
            responses = self._generate(jobs)
        except Exception as exc:  # every request of the batch gets the error
            for job in jobs:
                job.finish(None, exc)
            return
        finally:
            self.stats.running = 0
            self._running = []
        for job, response in zip(jobs, responses, strict=True):
            self.stats.requests += 1
            self.stats.prompt_tokens += response.prompt_tokens
            self.stats.completion_tokens += response.completion_tokens
            job.finish(response)

    def _generate(self, jobs: list[_Job]) -> list[ChatResponse]:
        requests = [j.request for j in jobs]
        streamed = [j for j in jobs if j.queue is not None]
        infer_batch = getattr(self.engine, "infer_batch", None)
        if infer_batch is not None:
            streamer = BatchStreamer(jobs, self.engine.partial_reply) if streamed else None
            responses = infer_batch(requests, streamer, cancelled=lambda: [j.dropped for j in jobs])
            if streamer is not None:
                streamer.flush(responses)
            return responses
        # An engine without batch streaming: streamed requests one by one, the rest together.
        responses: dict[int, ChatResponse] = {}
        plain = [i for i, j in enumerate(jobs) if j.queue is None]
        if plain:
            responses.update(zip(plain, self.engine.infer([requests[i] for i in plain]), strict=True))
        for index, job in enumerate(jobs):
            if job.queue is None:
                continue
            text = ""
            deltas = self.engine.stream(job.request)
            for delta in deltas:
                if job.dropped:
                    close = getattr(deltas, "close", None)
                    if close is not None:
                        close()
                    break
                text += delta
                job.send(delta)
            # Known only from its stream: the engine reports no usage or logprobs for it.
            responses[index] = ChatResponse(
                text=text, finish_reason="stop", prompt_tokens=0, completion_tokens=0
            )
        return [responses[i] for i in range(len(jobs))]


class BatchStreamer(BaseStreamer):
    """Routes a batched `generate`'s tokens to each streamed request.

    `generate` calls `put` with the prompt ids `(batch, width)` once, then with each step's
    new tokens `(batch,)`. Each row decodes its tokens so far through `partial_reply`
    (which cuts stop words and holds back what may still become one) and sends the new
    part; a row stops at its own end, while the batch goes on for the others.
    """

    def __init__(
        self, jobs: Sequence[_Job], partial_reply: Callable[[Sequence[int], ChatRequest], tuple[str, bool]]
    ) -> None:
        self.jobs = jobs
        self.partial_reply = partial_reply
        self.tokens: list[list[int]] = [[] for _ in jobs]
        self.sent = [0] * len(jobs)
        self.done = [job.queue is None for job in jobs]

    def put(self, value: Any) -> None:
        if value.dim() > 1:  # the prompt
            return
        for row, token in enumerate(value.tolist()):
            if self.done[row]:
                continue
            job = self.jobs[row]
            if job.dropped:
                self.done[row] = True
                continue
            self.tokens[row].append(token)
            text, ended = self.partial_reply(self.tokens[row], job.request)
            self._send(row, text)
            self.done[row] = ended

    def end(self) -> None:
        """Nothing to do: `flush` sends the rest once the responses are known."""

    def flush(self, responses: Sequence[ChatResponse]) -> None:
        """Send each streamed row what its final reply holds beyond what was sent."""
        for row, response in enumerate(responses):
            if self.jobs[row].queue is not None:
                self._send(row, response.text)

    def _send(self, row: int, text: str) -> None:
        if len(text) > self.sent[row]:
            self.jobs[row].send(text[self.sent[row] :])
            self.sent[row] = len(text)
