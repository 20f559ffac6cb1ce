"""The async front of an engine: concurrent requests batched, streamed per row, dropped
streams ignored, errors delivered to every request of a batch."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from tunekite.engines.protocol import ChatRequest
from tunekite.templates.encoder import Template
from tunekite.templates.format import ChatFormat

CHAT = ChatFormat(
    name="test-chat",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)
PROMPTS = ["hi", "what is the capital of France?", "12 * 7 = ?", "a much longer question about many things"]


@pytest.fixture(scope="module")
def engine():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunekite.engines.pt import PtEngine
    from tunekite.testing import save_tiny_chat_model

    folder = save_tiny_chat_model(Path(tempfile.mkdtemp()) / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    return PtEngine(model, tokenizer, Template.create(CHAT, tokenizer), max_batch_size=8)


def greedy(text: str, **fields) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": text}], **{"temperature": 0, "max_tokens": 10, **fields}
    )


class Recording:
    """The engine, recording the size of every batch it generates."""

    def __init__(self, engine, *, batch_streaming: bool = True) -> None:
        self.inner = engine
        self.max_batch_size = engine.max_batch_size
        self.batches: list[int] = []
        self.cancellations: list = []
        """The `cancelled` callable each `infer_batch` call was given."""
        if batch_streaming:
            self.infer_batch = self._infer_batch
            self.partial_reply = engine.partial_reply

    def _infer_batch(self, requests, streamer=None, cancelled=None):
        self.batches.append(len(requests))
        self.cancellations.append(cancelled)
        return self.inner.infer_batch(requests, streamer, cancelled)

    def infer(self, requests):
        self.batches.append(len(requests))
        return self.inner.infer(requests)

    def stream(self, request):
        self.batches.append(1)
        return self.inner.stream(request)


def front(engine, **options):
    from tunekite.engines.batching import AsyncEngine

    return AsyncEngine(engine, **options)


async def read(stream) -> str:
    return "".join([delta async for delta in stream])


def test_concurrent_requests_are_generated_together(engine):
    recording = Recording(engine)
    expected = [engine.infer([greedy(p)])[0] for p in PROMPTS]

    async def main():
        return await asyncio.gather(*(front_engine.infer_async(greedy(p)) for p in PROMPTS))

    front_engine = front(recording)
    responses = asyncio.run(main())
    assert [r.text for r in responses] == [r.text for r in expected]
    assert [r.completion_tokens for r in responses] == [r.completion_tokens for r in expected]
    assert recording.batches == [len(PROMPTS)]


def test_batches_hold_equal_settings_up_to_max_batch_size(engine):
    recording = Recording(engine)
    requests = [greedy(p, max_tokens=4 + i % 2) for i, p in enumerate(PROMPTS * 3)]

    async def main():
        return await asyncio.gather(*(front_engine.infer_async(r) for r in requests))

    front_engine = front(recording, max_batch_size=4)
    responses = asyncio.run(main())
    assert sorted(recording.batches) == [2, 2, 4, 4]
    assert all(r.completion_tokens <= q.max_tokens for r, q in zip(responses, requests, strict=True))


def test_streams_of_one_batch_join_to_each_full_reply(engine):
    full = engine.infer([greedy(p) for p in PROMPTS])
    word = full[1].text[1:3]
    requests = [greedy(p) for p in PROMPTS[:3]] + [greedy(PROMPTS[1], stop=[word])]
    expected = [r.text for r in engine.infer(requests)]
    recording = Recording(engine)

    async def main():
        streams = [front_engine.stream_async(r) for r in requests]
        texts = await asyncio.gather(*(read(s) for s in streams))
        return texts, [s.response for s in streams]

    front_engine = front(recording)
    texts, responses = asyncio.run(main())
    assert texts == expected
    assert [r.text for r in responses] == expected
    assert responses[-1].finish_reason == "stop" and texts[-1].endswith(word)
    assert recording.batches == [3, 1]  # stop words are a setting: their own batch


def test_a_dropped_stream_does_not_disturb_the_others(engine):
    expected = [r.text for r in engine.infer([greedy(p, max_tokens=16) for p in PROMPTS])]

    async def main():
        streams = [front_engine.stream_async(greedy(p, max_tokens=16)) for p in PROMPTS]
        first = await anext(streams[0])
        streams[0].close()
        return first, await asyncio.gather(*(read(s) for s in streams[1:]))

    front_engine = front(Recording(engine))
    first, texts = asyncio.run(main())
    assert expected[0].startswith(first)
    assert texts == expected[1:]


def test_engines_without_batch_streaming_stream_one_by_one(engine):
    recording = Recording(engine, batch_streaming=False)
    request = greedy(PROMPTS[1])

    async def main():
        stream = front_engine.stream_async(request)
        plain = front_engine.infer_async(greedy(PROMPTS[2]))
        return await read(stream), await plain

    front_engine = front(recording)
    text, plain = asyncio.run(main())
    assert text == engine.infer([request])[0].text
    assert plain.text == engine.infer([greedy(PROMPTS[2])])[0].text


def test_an_engine_error_reaches_every_request_of_the_batch(engine):
    from tunekite.errors import ArgumentError

    async def main():
        return await asyncio.gather(
            *(front_engine.infer_async(greedy(p, adapter="missing")) for p in PROMPTS), return_exceptions=True
        )

    front_engine = front(engine)
    errors = asyncio.run(main())
    assert all(isinstance(e, ArgumentError) and "missing" in str(e) for e in errors)


def test_exclusive_work_runs_between_batches(engine):
    front_engine = front(engine)

    async def main():
        replies = [front_engine.infer_async(greedy(p)) for p in PROMPTS]
        marker = await front_engine.run_exclusive(lambda: "ran")
        return marker, await asyncio.gather(*replies)

    marker, responses = asyncio.run(main())
    assert marker == "ran" and len(responses) == len(PROMPTS)


def test_a_cancelled_row_stops_at_once_while_the_others_finish(engine):
    """`infer_batch(..., cancelled=)`: the row it names stops generating (one padding token
    after), the other row's reply is untouched."""
    requests = [greedy(p, max_tokens=30) for p in PROMPTS[:2]]
    full = engine.infer_batch(requests)
    assert full[0].completion_tokens > 4, "pick a prompt whose greedy reply runs longer"
    steps: list[int] = []

    def cancelled() -> list[bool]:
        steps.append(1)
        return [len(steps) >= 3, False]

    out = engine.infer_batch(requests, cancelled=cancelled)
    assert out[1].text == full[1].text
    assert out[0].token_ids[:3] == full[0].token_ids[:3] and len(out[0].token_ids) <= 4


def test_cancelling_a_caller_drops_its_request_and_cancel_all_fails_the_rest(engine):
    recording = Recording(engine)

    async def main():
        front_engine = front(recording, batch_wait=0.05)
        waiting = asyncio.ensure_future(front_engine.infer_async(greedy("hi", max_tokens=30)))
        await asyncio.sleep(0)
        waiting.cancel()
        kept = asyncio.ensure_future(front_engine.infer_async(greedy("hi", max_tokens=2)))
        await asyncio.sleep(0)
        front_engine.cancel_all(RuntimeError("shutting down"))
        results = await asyncio.gather(waiting, kept, return_exceptions=True)
        try:
            await front_engine.infer_async(greedy("hi"))
        except RuntimeError as exc:
            return results, exc
        return results, None

    (waiting, kept), later = asyncio.run(main())
    assert isinstance(waiting, asyncio.CancelledError)
    assert isinstance(kept, RuntimeError) and isinstance(later, RuntimeError)
    assert recording.batches == []  # neither reached the engine


def test_cancelling_a_caller_while_its_batch_runs_tells_the_engine(engine):
    recording = Recording(engine)
    seen = recording.cancellations

    async def main():
        front_engine = front(recording)
        task = asyncio.ensure_future(front_engine.infer_async(greedy("hi", max_tokens=50)))
        while not seen:
            await asyncio.sleep(0.001)
        before = list(seen[0]())
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        return before, list(seen[0]())

    before, after = asyncio.run(main())
    assert (before, after) == ([False], [True])
