"""The vLLM engine on SmolLM2-135M-Instruct: the engine conformance suite, greedy output
equal to the pt engine's, LoRA requests equal to peft's. Needs vLLM (`make test-vllm`);
elsewhere these tests skip."""

from __future__ import annotations

import pytest

from tunekite.api import ArgumentError, ChatRequest, get_host
from tunekite.testing import EngineConformance

from .conftest import ADAPTER, DTYPE, HAS_VLLM, VLLM_MISSING

PROMPTS = (
    "What is the capital of France?",
    "Write a haiku about kites.",
    "12 * 7 = ?",
    "Who are you?",
    "Name three colours.",
    "Explain gravity to a child in one sentence.",
)
TOKENS = 16


def greedy(text: str, **fields) -> ChatRequest:
    return ChatRequest(
        messages=[{"role": "user", "content": text}], temperature=0, **{"max_tokens": TOKENS, **fields}
    )


class TestVllmEngine(EngineConformance):
    """The shared engine checks, on the session's engine (vLLM schedules its own batches,
    so one engine serves every batch size)."""

    name = "vllm"

    @pytest.fixture(autouse=True)
    def _pytest_request(self, request):
        self._request = request

    def _setup(self):
        if not HAS_VLLM:
            pytest.skip(VLLM_MISSING)
        return self._request.getfixturevalue("vllm_setup")

    def engine(self, max_batch_size: int = 1):
        return self._setup().engine

    def template(self):
        return self._setup().template


@pytest.fixture(scope="module")
def pt_replies(vllm_setup):
    """The pt engine's greedy replies, base and with the adapter (peft), in the same dtype."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(vllm_setup.folder, dtype=getattr(torch, DTYPE))
    build_pt = get_host().registry("engines").get("pt").load()
    pt = build_pt(model, vllm_setup.tokenizer, vllm_setup.template, None, max_batch_size=len(PROMPTS))
    base = pt.infer([greedy(p) for p in PROMPTS])
    tuned_model = PeftModel.from_pretrained(model, str(vllm_setup.adapter), adapter_name=ADAPTER)
    tuned = build_pt(
        tuned_model, vllm_setup.tokenizer, vllm_setup.template, None, max_batch_size=len(PROMPTS)
    )
    return base, tuned.infer([greedy(p, adapter=ADAPTER) for p in PROMPTS])


def test_greedy_matches_the_pt_engine(vllm_setup, pt_replies) -> None:
    base, _ = pt_replies
    replies = vllm_setup.engine.infer([greedy(p) for p in PROMPTS])
    assert [r.text for r in replies] == [r.text for r in base]
    assert [r.completion_tokens for r in replies] == [r.completion_tokens for r in base]
    assert [r.prompt_tokens for r in replies] == [r.prompt_tokens for r in base]


def test_lora_request_matches_peft(vllm_setup, pt_replies) -> None:
    base, tuned = pt_replies
    replies = vllm_setup.engine.infer([greedy(p, adapter=ADAPTER) for p in PROMPTS])
    assert [r.text for r in replies] == [r.text for r in tuned]
    assert [r.text for r in tuned] != [r.text for r in base], "the adapter should change the replies"


def test_base_and_adapter_requests_in_one_batch(vllm_setup, pt_replies) -> None:
    base, tuned = pt_replies
    mixed = vllm_setup.engine.infer([greedy(PROMPTS[0]), greedy(PROMPTS[0], adapter=ADAPTER)])
    assert [r.text for r in mixed] == [base[0].text, tuned[0].text]


def test_unknown_adapter_is_an_error(vllm_setup) -> None:
    with pytest.raises(ArgumentError, match="not loaded"):
        vllm_setup.engine.infer([greedy(PROMPTS[0], adapter="nope")])


def test_logprobs_of_the_chosen_tokens(vllm_setup) -> None:
    (reply,) = vllm_setup.engine.infer([greedy(PROMPTS[0], logprobs=True, top_logprobs=3)])
    assert len(reply.logprobs) == reply.completion_tokens
    for entry in reply.logprobs:
        assert entry.logprob <= 0 and len(entry.top_logprobs) == 3
        assert entry.logprob == pytest.approx(entry.top_logprobs[0].logprob, abs=1e-4)  # greedy: the best


def test_seeded_sampling_is_reproducible(vllm_setup) -> None:
    request = ChatRequest(
        messages=[{"role": "user", "content": PROMPTS[1]}], temperature=1.0, max_tokens=TOKENS, seed=7
    )
    assert vllm_setup.engine.infer([request])[0].text == vllm_setup.engine.infer([request])[0].text


def test_stream_with_adapter_joins_to_infer(vllm_setup) -> None:
    request = greedy(PROMPTS[3], adapter=ADAPTER)
    deltas = list(vllm_setup.engine.stream(request))
    assert len(deltas) > 1, "vLLM's engine is stepped, so the reply arrives in pieces"
    assert "".join(deltas) == vllm_setup.engine.infer([request])[0].text


def test_prompt_token_ids_are_continued_without_the_template(vllm_setup) -> None:
    """A prompt the template already rendered (GRPO's), given as ids, gets the conversation's
    reply: no second chat template, no extra BOS."""
    messages = [{"role": "user", "content": PROMPTS[2]}]
    ids = vllm_setup.template.prompt_ids(messages)
    by_ids, by_messages = vllm_setup.engine.infer(
        [ChatRequest(messages=[], prompt=ids, temperature=0, max_tokens=TOKENS), greedy(PROMPTS[2])]
    )
    assert (by_ids.text, by_ids.prompt_tokens) == (by_messages.text, len(ids))


def test_token_ids_end_with_the_end_of_turn(vllm_setup) -> None:
    """What GRPO trains on: every sampled token, the end-of-turn included when it stopped."""
    end = vllm_setup.tokenizer.convert_tokens_to_ids("<|im_end|>")
    replies = vllm_setup.engine.infer([greedy(p, max_tokens=64) for p in PROMPTS])
    assert any(r.finish_reason == "stop" for r in replies)
    for reply in replies:
        assert len(reply.token_ids) == reply.completion_tokens
        assert (reply.token_ids[-1] == end) == (reply.finish_reason == "stop")
        assert vllm_setup.tokenizer.decode(reply.token_ids).startswith(reply.text)


def test_adapters_load_and_unload_while_running(vllm_setup, pt_replies) -> None:
    """A second name for the same folder (a fresh LoRA id) answers as the first; once
    unloaded it is unknown, and the first still works (vLLM reloads it if it was evicted)."""
    _, tuned = pt_replies
    engine = vllm_setup.engine
    engine.load_adapter("kite-again", vllm_setup.adapter)
    try:
        (again,) = engine.infer([greedy(PROMPTS[0], adapter="kite-again")])
        assert again.text == tuned[0].text
        with pytest.raises(ArgumentError, match="already loaded"):
            engine.load_adapter("kite-again", vllm_setup.adapter)
    finally:
        engine.unload_adapter("kite-again")
    with pytest.raises(ArgumentError, match="not loaded"):
        engine.infer([greedy(PROMPTS[0], adapter="kite-again")])
    with pytest.raises(ArgumentError, match="not loaded"):
        engine.unload_adapter("kite-again")
    assert engine.infer([greedy(PROMPTS[0], adapter=ADAPTER)])[0].text == tuned[0].text


def test_loading_an_adapter_needs_lora_and_an_adapter_folder(vllm_setup, tmp_path) -> None:
    from tunekite_vllm.engine import VllmEngine

    without_lora = VllmEngine(None, vllm_setup.tokenizer, vllm_setup.template)
    with pytest.raises(ArgumentError, match="started without LoRA"):
        without_lora.load_adapter("x", vllm_setup.adapter)
    with pytest.raises(ArgumentError, match=r"adapter_config\.json"):
        vllm_setup.engine.load_adapter("x", tmp_path)
