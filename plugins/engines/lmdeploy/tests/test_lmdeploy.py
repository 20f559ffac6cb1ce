"""The lmdeploy plugin up to the engine call: arguments, their mapping to LMDeploy's configs,
request and response conversion (against a stand-in pipeline), and the CUDA check. Calls
into a real LMDeploy engine need a CUDA GPU and skip elsewhere."""

from __future__ import annotations

import sys
from types import SimpleNamespace

import pytest

from tunekite.api import ArgumentError, ChatFormat, ChatRequest, Template, TunekiteError
from tunekite.testing import CHATML_JINJA, EngineConformance, tiny_tokenizer
from tunekite_lmdeploy import engine as engine_module
from tunekite_lmdeploy.engine import LmdeployEngine, build, generation_defaults
from tunekite_lmdeploy.mapping import (
    NO_CUDA,
    backend_config,
    generation_kwargs,
    require_cuda,
    vision_kwargs,
)
from tunekite_lmdeploy.plugin import LmdeployArguments

CHATML = ChatFormat(
    name="chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)
HELLO = [{"role": "user", "content": "hello"}]


def _cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def _has_lmdeploy() -> bool:
    import importlib.util

    return importlib.util.find_spec("lmdeploy") is not None


NEEDS_CUDA = "LMDeploy needs a CUDA GPU (and lmdeploy installed); this machine has none"


class TestLmdeployEngine(EngineConformance):
    """Registration checks run everywhere; the request/response checks need the real engine."""

    name = "lmdeploy"

    def engine(self, max_batch_size: int = 1):
        if not (_cuda() and _has_lmdeploy()):
            pytest.skip(NEEDS_CUDA)
        return super().engine(max_batch_size)  # pragma: no cover - GPU machines only

    def build_engine(self, parts, max_batch_size):  # pragma: no cover - GPU machines only
        import tempfile
        from pathlib import Path

        model, tokenizer, template = parts
        folder = Path(tempfile.mkdtemp(prefix="tk-lmdeploy-"))
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        return self.spec().load()(
            folder,
            tokenizer,
            template,
            self.make_args(),
            max_batch_size=max_batch_size,
            torch_dtype="float16",
        )


@pytest.fixture(scope="module")
def template() -> Template:
    tokenizer = tiny_tokenizer(CHATML_JINJA, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    return Template.create(CHATML, tokenizer)


# Arguments ---------------------------------------------------------------------------


def test_defaults_are_ms_swifts() -> None:
    args = LmdeployArguments()
    assert (
        args.tp,
        args.session_len,
        args.cache_max_entry_count,
        args.quant_policy,
        args.vision_batch_size,
    ) == (
        1,
        None,
        0.8,
        0,
        1,
    )


@pytest.mark.parametrize(
    "bad",
    [
        {"tp": 0},
        {"quant_policy": 3},
        {"cache_max_entry_count": 1.5},
        {"session_len": 0},
        {"vision_batch_size": 0},
    ],
)
def test_out_of_range_arguments_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        LmdeployArguments(**bad)


def test_turbomind_config_by_default() -> None:
    kind, kwargs = backend_config(LmdeployArguments(tp=2, quant_policy=8))
    assert kind == "turbomind"
    assert kwargs == {"dtype": "auto", "tp": 2, "cache_max_entry_count": 0.8, "quant_policy": 8}


def test_adapters_select_the_pytorch_engine_with_session_len_and_dtype() -> None:
    kind, kwargs = backend_config(
        LmdeployArguments(session_len=4096), dtype="bfloat16", adapters={"default": "/ckpt"}
    )
    assert kind == "pytorch"
    assert kwargs["adapters"] == {"default": "/ckpt"}
    assert kwargs["session_len"] == 4096 and kwargs["dtype"] == "bfloat16"


def test_float32_is_refused() -> None:
    with pytest.raises(ArgumentError, match="float16 or bfloat16"):
        backend_config(LmdeployArguments(), dtype="float32")


def test_vision_batch_size() -> None:
    assert vision_kwargs(LmdeployArguments(vision_batch_size=4)) == {"max_batch_size": 4}


# Requests ----------------------------------------------------------------------------


def test_temperature_zero_is_greedy_and_drops_sampling_settings() -> None:
    kwargs = generation_kwargs(
        ChatRequest(messages=HELLO, temperature=0, top_p=0.5, max_tokens=7, seed=3),
        defaults={"do_sample": True, "temperature": 0.6, "top_p": 0.9},
        stop_token_ids=[5],
        stop_strings=["Observation:"],
    )
    assert kwargs["do_sample"] is False and "temperature" not in kwargs and "top_p" not in kwargs
    assert kwargs["max_new_tokens"] == 7 and kwargs["random_seed"] == 3
    assert kwargs["stop_token_ids"] == [5] and kwargs["stop_words"] == ["Observation:"]
    assert kwargs["skip_special_tokens"] is False and kwargs["logprobs"] is None


def test_sampling_settings_override_the_generation_config() -> None:
    kwargs = generation_kwargs(
        ChatRequest(messages=HELLO, temperature=0.7, top_k=20, repetition_penalty=1.1, stop=["END"]),
        defaults={"do_sample": False, "top_p": 0.9},
        stop_strings=["Observation:"],
    )
    assert kwargs["do_sample"] is True
    assert (kwargs["temperature"], kwargs["top_k"], kwargs["top_p"], kwargs["repetition_penalty"]) == (
        0.7,
        20,
        0.9,
        1.1,
    )
    assert kwargs["stop_words"] == ["Observation:", "END"]
    assert "max_new_tokens" not in kwargs  # LMDeploy's own default


def test_generation_config_without_do_sample_is_greedy(tmp_path) -> None:
    (tmp_path / "generation_config.json").write_text('{"temperature": 0.2, "top_p": 0.9}')
    kwargs = generation_kwargs(ChatRequest(messages=HELLO), defaults=generation_defaults(tmp_path))
    assert kwargs["do_sample"] is False and "temperature" not in kwargs


def test_logprobs_ask_for_the_top_alternatives() -> None:
    assert generation_kwargs(ChatRequest(messages=HELLO, logprobs=True, top_logprobs=3))["logprobs"] == 3
    assert generation_kwargs(ChatRequest(messages=HELLO, logprobs=True))["logprobs"] == 1


@pytest.mark.parametrize(
    "request_", [ChatRequest(messages=HELLO, n=2), ChatRequest(messages=HELLO, num_beams=2)]
)
def test_unsupported_requests_are_refused(request_) -> None:
    with pytest.raises(ArgumentError, match="lmdeploy engine"):
        generation_kwargs(request_)


# The engine against a stand-in pipeline ----------------------------------------------


class FakePipeline:
    """Records what the engine sends and answers like `lmdeploy.pipeline`."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.calls: list[dict] = []

    def __call__(self, prompts, gen_config, do_preprocess, adapter_name):
        self.calls.append(
            {
                "prompts": prompts,
                "gen_config": gen_config,
                "do_preprocess": do_preprocess,
                "adapter_name": adapter_name,
            }
        )
        return [
            SimpleNamespace(
                text=self.reply,
                finish_reason="stop",
                input_token_len=len(p),
                generate_token_len=4,
                token_ids=[],
                logprobs=None,
            )
            for p in prompts
        ]

    def stream_infer(self, prompts, gen_config, do_preprocess, adapter_name):
        self.calls.append({"prompts": prompts, "adapter_name": adapter_name})
        for i, char in enumerate(self.reply):
            yield SimpleNamespace(text=char, finish_reason="stop" if i == len(self.reply) - 1 else None)


def test_requests_become_rendered_prompts_and_generation_configs(template) -> None:
    pipe = FakePipeline("Hi there<|im_end|>")
    engine = LmdeployEngine(pipe, template.tokenizer, template, make_config=dict)
    [response] = engine.infer([ChatRequest(messages=HELLO, temperature=0, max_tokens=8)])
    call = pipe.calls[0]
    assert call["prompts"] == ["<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"]
    assert call["do_preprocess"] is False and call["adapter_name"] is None
    config = call["gen_config"][0]
    assert config["max_new_tokens"] == 8 and config["do_sample"] is False
    assert config["stop_token_ids"] == [template.tokenizer.convert_tokens_to_ids("<|im_end|>")]
    assert (response.text, response.finish_reason, response.completion_tokens) == ("Hi there", "stop", 4)


def test_request_stop_words_stay_in_the_reply(template) -> None:
    engine = LmdeployEngine(FakePipeline("one END two"), template.tokenizer, template, make_config=dict)
    [response] = engine.infer([ChatRequest(messages=HELLO, stop=["END"])])
    assert response.text == "one END"


def test_stream_joins_to_the_reply(template) -> None:
    pipe = FakePipeline("Hello kite<|im_end|>")
    engine = LmdeployEngine(pipe, template.tokenizer, template, make_config=dict)
    deltas = list(engine.stream(ChatRequest(messages=HELLO)))
    assert "".join(deltas) == "Hello kite" and len(deltas) > 1
    assert not any("<" in d for d in deltas)  # a partial end-of-turn is held back, then dropped


def test_adapters_route_by_name(template) -> None:
    pipe = FakePipeline("ok")
    engine = LmdeployEngine(
        pipe, template.tokenizer, template, adapters={"default": "/a", "b": "/b"}, make_config=dict
    )
    engine.infer([ChatRequest(messages=HELLO), ChatRequest(messages=HELLO, adapter="b")])
    assert [c["adapter_name"] for c in pipe.calls] == ["default", "b"]
    with pytest.raises(ArgumentError, match="not loaded"):
        engine.infer([ChatRequest(messages=HELLO, adapter="missing")])


# CUDA ----------------------------------------------------------------------------------


def test_missing_cuda_is_a_clear_error_before_lmdeploy_is_imported(monkeypatch, template, tmp_path) -> None:
    monkeypatch.setattr(engine_module, "_cuda_available", lambda: False)
    monkeypatch.delitem(sys.modules, "lmdeploy", raising=False)
    with pytest.raises(TunekiteError) as error:
        build(tmp_path, template.tokenizer, template, LmdeployArguments())
    assert str(error.value) == NO_CUDA
    assert "lmdeploy" not in sys.modules


def test_require_cuda() -> None:
    require_cuda(lambda: True)
    with pytest.raises(TunekiteError, match="needs a CUDA GPU"):
        require_cuda(lambda: False)


@pytest.mark.skipif(not (_cuda() and _has_lmdeploy()), reason=NEEDS_CUDA)
def test_real_pipeline_answers(template, tmp_path) -> None:  # pragma: no cover - GPU machines only
    from tunekite.testing import save_tiny_chat_model

    folder = save_tiny_chat_model(tmp_path / "model")
    engine = build(folder, template.tokenizer, template, LmdeployArguments(), torch_dtype="float16")
    [response] = engine.infer([ChatRequest(messages=HELLO, temperature=0, max_tokens=8)])
    assert response.finish_reason in ("stop", "length") and response.completion_tokens <= 8
    assert "".join(engine.stream(ChatRequest(messages=HELLO, temperature=0, max_tokens=8))) == response.text


def test_logprobs_become_token_logprobs(template) -> None:
    pipe = FakePipeline("ok")
    engine = LmdeployEngine(pipe, template.tokenizer, template, make_config=dict)
    output = SimpleNamespace(
        text="ok",
        finish_reason="length",
        input_token_len=3,
        generate_token_len=1,
        token_ids=[7],
        logprobs=[{7: -0.25, 8: -1.5}],
    )
    response = engine.response(ChatRequest(messages=HELLO, logprobs=True, top_logprobs=2), output)
    [entry] = response.logprobs
    assert entry.logprob == -0.25 and [t.logprob for t in entry.top_logprobs] == [-0.25, -1.5]
