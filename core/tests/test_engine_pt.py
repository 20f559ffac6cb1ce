"""The pt engine on a tiny model: batching, stop words, logprobs, streaming."""

from __future__ import annotations

import pytest

from tunekite.engines.protocol import ChatRequest
from tunekite.templates.format import ChatFormat

pytest.importorskip("torch")

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
def parts(tmp_path_factory):
    import tempfile
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tunekite.testing import save_tiny_chat_model

    folder = save_tiny_chat_model(Path(tempfile.mkdtemp()) / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    return AutoModelForCausalLM.from_pretrained(folder), tokenizer, CHAT.build(tokenizer)


def engine(parts, **options):
    from tunekite.engines.pt import PtEngine

    return PtEngine(*parts, **options)


def greedy(text: str, **fields) -> ChatRequest:
    settings = {"temperature": 0, "max_tokens": 12, **fields}
    return ChatRequest(messages=[{"role": "user", "content": text}], **settings)


def test_batched_greedy_equals_one_by_one(parts):
    batched = engine(parts, max_batch_size=4).infer([greedy(p) for p in PROMPTS])
    single = engine(parts, max_batch_size=1)
    alone = [single.infer([greedy(p)])[0] for p in PROMPTS]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert [r.prompt_tokens for r in batched] == [r.prompt_tokens for r in alone]
    assert all(r.completion_tokens <= 12 for r in batched)


def test_usage_and_finish_reason(parts):
    (response,) = engine(parts).infer([greedy("hi", max_tokens=3)])
    template = parts[2]
    assert response.prompt_tokens == len(template.prompt_ids([{"role": "user", "content": "hi"}]))
    assert response.finish_reason in ("length", "stop")
    if response.finish_reason == "length":
        assert response.completion_tokens == 3


def test_stop_word_ends_the_reply_and_is_kept(parts):
    full = engine(parts).infer([greedy("hi", max_tokens=12)])[0].text
    assert len(full) > 2, "the tiny model should say something"
    word = full[1:3]
    cut = engine(parts).infer([greedy("hi", max_tokens=12, stop=[word])])[0]
    assert cut.text.endswith(word) and len(cut.text) <= len(full)
    assert cut.finish_reason == "stop"


def test_logprobs_per_token_with_alternatives(parts):
    (response,) = engine(parts).infer([greedy("hi", max_tokens=4, logprobs=True, top_logprobs=3)])
    assert len(response.logprobs) == response.completion_tokens
    first = response.logprobs[0]
    assert first["logprob"] <= 0 and len(first["top_logprobs"]) == 3
    assert first["logprob"] == pytest.approx(
        first["top_logprobs"][0]["logprob"]
    )  # greedy picks the top token


def test_stream_deltas_join_to_the_full_reply(parts):
    request = greedy("what is the capital of France?")
    full = engine(parts).infer([request])[0].text
    deltas = list(engine(parts).stream(request))
    assert "".join(deltas).strip() == full.strip()


def test_seeded_sampling_is_reproducible(parts):
    request = ChatRequest(messages=[{"role": "user", "content": "hi"}], temperature=1.0, max_tokens=8, seed=3)
    assert engine(parts).infer([request])[0].text == engine(parts).infer([request])[0].text
