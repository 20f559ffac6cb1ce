"""TuneKite arguments and requests as LMDeploy keyword arguments, and its replies back.

Pure functions over plain values: nothing here imports LMDeploy or torch, so the whole
mapping is tested on a CPU-only machine; the engine feeds the results to
`TurbomindEngineConfig`/`PytorchEngineConfig`, `VisionConfig` and `GenerationConfig`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunekite.api import ArgumentError, ChatRequest, StopWords, TunekiteError

NO_CUDA = "LMDeploy needs a CUDA GPU; this machine has none — use --infer_backend pt or vllm"
"""The name an unnamed `--adapters PATH` gets: peft's name for it, so requests name it alike."""
DTYPES = {None: "auto", "float16": "float16", "bfloat16": "bfloat16"}


def require_cuda(cuda_available: Callable[[], bool]) -> None:
    """Fail before LMDeploy is imported: both its engines refuse a machine without CUDA."""
    if not cuda_available():
        raise TunekiteError(NO_CUDA)


def backend_config(
    args: Any, *, dtype: str | None = None, adapters: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    """Which LMDeploy engine to use and its config keyword arguments.

    TurboMind (`TurbomindEngineConfig`) by default; with adapters, the PyTorch engine
    (`PytorchEngineConfig(adapters=...)`), since TurboMind serves no LoRA."""
    if dtype not in DTYPES:
        raise ArgumentError(f"--torch_dtype {dtype}: LMDeploy runs float16 or bfloat16 weights")
    kwargs: dict[str, Any] = {
        "dtype": DTYPES[dtype],
        "tp": args.tp,
        "cache_max_entry_count": args.cache_max_entry_count,
        "quant_policy": args.quant_policy,
    }
    if args.session_len is not None:
        kwargs["session_len"] = args.session_len
    if adapters:
        return "pytorch", {**kwargs, "adapters": dict(adapters)}
    return "turbomind", kwargs


def vision_kwargs(args: Any) -> dict[str, Any]:
    """`lmdeploy.VisionConfig` keyword arguments."""
    return {"max_batch_size": args.vision_batch_size}


def generation_kwargs(
    request: ChatRequest,
    *,
    defaults: Mapping[str, Any] | None = None,
    stop_token_ids: Sequence[int] = (),
    stop_strings: Sequence[str] = (),
) -> dict[str, Any]:
    """`lmdeploy.GenerationConfig` keyword arguments for `request`.

    `defaults` are the model's generation_config.json settings; the request's non-None
    settings replace them. Temperature 0 (or no `do_sample`) is greedy, LMDeploy's
    `do_sample=False`. Special tokens are kept in the text and stop words included, so
    `StopWords.cut` applies the pt engine's rule (drop the end-of-turn, keep the request's stops).
    """
    check_request(request)
    settings = {
        k: v
        for k, v in (defaults or {}).items()
        if k in ("do_sample", "temperature", "top_p", "top_k", "repetition_penalty")
    }
    for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
        value = getattr(request, name)
        if value is not None:
            settings[name] = value
    if request.temperature is not None:
        settings["do_sample"] = request.temperature > 0
    kwargs: dict[str, Any] = {"n": 1, "do_sample": bool(settings.pop("do_sample", False))}
    if kwargs["do_sample"]:
        kwargs.update(settings)
    elif "repetition_penalty" in settings:
        kwargs["repetition_penalty"] = settings["repetition_penalty"]
    if request.max_tokens is not None:
        kwargs["max_new_tokens"] = request.max_tokens
    kwargs.update(
        stop_words=[*dict.fromkeys([*stop_strings, *request.stop])],
        stop_token_ids=list(stop_token_ids),
        include_stop_str_in_output=True,
        skip_special_tokens=False,
        spaces_between_special_tokens=False,
        random_seed=request.seed,
        logprobs=(request.top_logprobs or 1) if request.logprobs else None,
    )
    return kwargs


def check_request(request: ChatRequest) -> None:
    """What this engine cannot answer, as the same errors the pt engine gives."""
    if request.n != 1:
        raise ArgumentError(f"the lmdeploy engine answers one choice per request (n=1), got n={request.n}")
    if request.num_beams != 1:
        raise ArgumentError(f"the lmdeploy engine does not do beam search (num_beams={request.num_beams})")
    if request.max_tokens is not None and request.max_tokens < 1:
        raise ArgumentError(f"max_tokens must be at least 1, got {request.max_tokens}")


def prompt_text(template: Any, request: ChatRequest) -> str:
    """The prompt as TuneKite's template renders it, handed to the pipeline with
    `do_preprocess=False` so LMDeploy applies no chat template of its own."""
    return template.render(request.messages, request.tools, generation=True)


def response_fields(response: Any, stops: StopWords, request: ChatRequest) -> dict[str, Any]:
    """`ChatResponse` fields (without logprobs) from an `lmdeploy.Response`, its text cut at
    the template's and the request's stop words (`stops`)."""
    text, stopped = stops.cut(response.text, request.stop)
    return {
        "text": text,
        "finish_reason": "stop" if stopped or response.finish_reason == "stop" else "length",
        "prompt_tokens": response.input_token_len,
        "completion_tokens": response.generate_token_len,
    }
