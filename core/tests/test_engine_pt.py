"""The pt engine on a tiny model: batching, stop words, usage, logprobs, streaming."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tunekite.engines.protocol import ChatRequest, Engine
from tunekite.errors import ArgumentError
from tunekite.templates.encoder import Template
from tunekite.templates.format import ChatFormat

CHATML = ChatFormat(
    name="test-chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)
PROMPTS = [
    "hi",
    "what is the capital of France?",
    "12 * 7 = ?",
    "The quick brown fox jumps over the lazy dog",
]


@pytest.fixture(scope="module")
def parts():
    """A tiny Llama (fp32) with a ChatML tokenizer whose EOS is `<|im_end|>`, as SmolLM2's."""
    from tunekite.testing import tiny_causal_lm, tiny_tokenizer

    tokenizer = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    model = tiny_causal_lm(seed=3)
    model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer, Template.create(CHATML, tokenizer)


def make(parts, fmt: ChatFormat | None = None, **options):
    from tunekite.engines.pt import PtEngine

    model, tokenizer, template = parts
    return PtEngine(model, tokenizer, Template.create(fmt, tokenizer) if fmt else template, **options)


def greedy(text: str, **fields) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": text}], **{"temperature": 0, "max_tokens": 12, **fields}
    )


def test_pt_engine_follows_the_protocol(parts):
    assert isinstance(make(parts), Engine)


def test_batched_greedy_equals_one_by_one(parts):
    engine = make(parts, max_batch_size=4)
    batched = engine.infer([greedy(p) for p in PROMPTS])
    alone = [make(parts).infer([greedy(p)])[0] for p in PROMPTS]
    assert batched == alone
    assert len({r.prompt_tokens for r in batched}) > 1, "prompts of different lengths exercise left padding"


def test_usage_and_length_finish(parts):
    (response,) = make(parts).infer([greedy("hi", max_tokens=5)])
    template = parts[2]
    assert response.prompt_tokens == len(template.prompt_ids([{"role": "user", "content": "hi"}]))
    assert (response.finish_reason, response.completion_tokens) == ("length", 5)
    assert response.logprobs is None


def test_request_stop_word_ends_the_reply_and_stays_in_it(parts):
    full = make(parts).infer([greedy("hi")])[0].text
    word = full[4:6]
    (response,) = make(parts).infer([greedy("hi", stop=[word])])
    assert response.text == full[: full.index(word) + len(word)]
    assert response.finish_reason == "stop"
    assert 0 < response.completion_tokens < 12


def test_template_stop_word_ends_the_reply_and_is_removed(parts):
    full = make(parts).infer([greedy("hi")])[0].text
    word = full[4:6]
    (response,) = make(parts, replace(CHATML, stop_words=(word,))).infer([greedy("hi")])
    assert response.text == full[: full.index(word)]
    assert response.finish_reason == "stop"


def test_end_of_turn_is_removed(parts):
    """A model that always answers `<|im_end|>` at once replies with empty text."""
    import torch

    model, tokenizer, template = parts
    eager = type(model)(model.config)
    eager.load_state_dict(model.state_dict())
    eager.lm_head = torch.nn.Linear(model.config.hidden_size, len(tokenizer))
    with torch.no_grad():
        eager.lm_head.weight.zero_()
        eager.lm_head.bias.zero_()
        eager.lm_head.bias[tokenizer.convert_tokens_to_ids("<|im_end|>")] = 1.0
    (response,) = make((eager, tokenizer, template)).infer([greedy("hi")])
    assert (response.text, response.finish_reason, response.completion_tokens) == ("", "stop", 1)
    assert response.token_ids == [tokenizer.convert_tokens_to_ids("<|im_end|>")]  # kept in the ids


def test_token_ids_are_the_tokens_generated(parts):
    """Batched (left padding, rows ending at different steps), cut at a stop word or not."""
    _, tokenizer, _ = parts
    engine = make(parts, max_batch_size=4)
    full = engine.infer([greedy(p) for p in PROMPTS])
    word = full[0].text[4:6]
    cut = engine.infer([greedy(p, stop=[word]) for p in PROMPTS])
    for response in (*full, *cut):
        assert len(response.token_ids) == response.completion_tokens
        assert tokenizer.decode(response.token_ids).startswith(response.text)
    assert cut[0].finish_reason == "stop" and cut[0].text.endswith(word)
    assert full[0].token_ids[: len(cut[0].token_ids)] == cut[0].token_ids  # up to the stop word
    assert len(cut[0].token_ids) < len(full[0].token_ids)


def test_prompt_token_ids_are_continued_as_they_are(parts):
    """A prompt the template already rendered, given as ids, gets the conversation's reply."""
    template = parts[2]
    ids = template.prompt_ids([{"role": "user", "content": "hi"}])
    engine = make(parts)
    (by_ids,) = engine.infer([ChatRequest(messages=[], prompt=ids, temperature=0, max_tokens=12)])
    assert by_ids == engine.infer([greedy("hi")])[0]


def test_logprobs_shape(parts):
    (response,) = make(parts).infer([greedy("hi", max_tokens=6, logprobs=True, top_logprobs=3)])
    assert len(response.logprobs) == response.completion_tokens == 6
    for entry in response.logprobs:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        # greedy picks the most likely token
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
    assert "".join(e.token for e in response.logprobs) == response.text


def test_sampling_is_seeded(parts):
    """temperature > 0 samples: each seed its own reply, none the greedy one; a seed
    repeats its reply."""
    engine = make(parts)
    sampled = [greedy("hi", temperature=1.0, top_k=50, seed=seed) for seed in (1, 2, 3)]
    replies = [engine.infer([request])[0].token_ids for request in sampled]
    assert engine.infer([sampled[0]])[0].token_ids == replies[0]
    assert len(set(map(tuple, replies))) == 3, replies
    assert engine.infer([greedy("hi")])[0].token_ids not in replies


@pytest.mark.parametrize("stop", [(), ("<stop-later>",)])
def test_stream_deltas_join_to_the_reply(parts, stop):
    engine = make(parts)
    for prompt in PROMPTS[:2]:
        request = greedy(prompt, stop=stop)
        assert "".join(engine.stream(request)) == engine.infer([request])[0].text


def test_stream_stops_at_a_stop_word(parts):
    engine = make(parts)
    full = engine.infer([greedy("hi")])[0].text
    request = greedy("hi", stop=[full[4:6]])
    assert "".join(engine.stream(request)) == engine.infer([request])[0].text


def test_unsupported_requests_are_refused(parts):
    with pytest.raises(ArgumentError, match="n=1"):
        make(parts).infer([greedy("hi", n=2)])
    with pytest.raises(ArgumentError, match="beam"):
        make(parts).infer([greedy("hi", num_beams=2, logprobs=True)])
    with pytest.raises(ArgumentError, match="max_batch_size"):
        make(parts, max_batch_size=0)


def test_registered_as_pt(tk_plugins, parts):
    """`--infer_backend pt` resolves to a factory that builds this engine."""
    build = tk_plugins.host.registry("engines").get("pt").load()
    model, tokenizer, template = parts
    engine = build(model, tokenizer, template, None, max_batch_size=2)
    assert isinstance(engine, Engine)
    assert engine.infer([greedy("hi")]) == make(parts).infer([greedy("hi")])
