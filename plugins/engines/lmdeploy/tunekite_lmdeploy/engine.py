"""The LMDeploy engine: `lmdeploy.pipeline` fed with prompts rendered by TuneKite's `Template`.

`infer` sends the requests to the pipeline together (one call per adapter; LMDeploy
batches them itself); `stream` iterates `pipeline.stream_infer`, holding back text that
may still become a stop word, so the deltas join to what `infer` returns. The factory
checks for CUDA before importing LMDeploy: both of its engines refuse a CPU-only machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import (
    DEFAULT_ADAPTER,
    ArgumentError,
    ChatRequest,
    ChatResponse,
    StopWords,
    named_adapters,
    token_logprobs,
)
from tunekite_lmdeploy.mapping import (
    backend_config,
    generation_kwargs,
    prompt_text,
    require_cuda,
    response_fields,
    vision_kwargs,
)


def generation_defaults(folder: str | Path) -> dict[str, Any]:
    """The model's generation_config.json sampling settings (`do_sample` false: greedy)."""
    path = Path(folder) / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    names = ("do_sample", "temperature", "top_p", "top_k", "repetition_penalty")
    return {n: config[n] for n in names if config.get(n) is not None}


class LmdeployEngine:
    """Answers `ChatRequest`s with an `lmdeploy` pipeline. An adapter named `default` (an
    unnamed `--adapters PATH`) answers requests that name none; otherwise they get the base
    model. `make_config` builds a generation config from keyword arguments
    (`lmdeploy.GenerationConfig` unless a test passes another)."""

    def __init__(
        self,
        pipe: Any,
        tokenizer: Any,
        template: Any,
        *,
        adapters: dict[str, str] | None = None,
        defaults: dict[str, Any] | None = None,
        make_config: Callable[..., Any] | None = None,
    ) -> None:
        if make_config is None:
            from lmdeploy import GenerationConfig as make_config
        self.pipe = pipe
        self.tokenizer = tokenizer
        self.template = template
        self.defaults = dict(defaults or {})
        self.make_config = make_config
        self.stops = StopWords.of(template, tokenizer)
        self.adapters = dict(adapters or {})
        self._default_adapter = DEFAULT_ADAPTER if DEFAULT_ADAPTER in self.adapters else None

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """One pipeline call per adapter named; answers in order."""
        groups: dict[str | None, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(self._adapter(request.adapter), []).append(index)
        results: dict[int, ChatResponse] = {}
        for adapter, indices in groups.items():
            chosen = [requests[i] for i in indices]
            outputs = self.pipe(
                [prompt_text(self.template, r) for r in chosen],
                gen_config=[self.config(r) for r in chosen],
                do_preprocess=False,
                adapter_name=adapter,
            )
            for index, request, output in zip(indices, chosen, outputs, strict=True):
                results[index] = self.response(request, output)
        return [results[i] for i in range(len(requests))]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Text deltas from `pipeline.stream_infer`, cut at stop words as `infer` cuts them."""
        pieces = self.pipe.stream_infer(
            [prompt_text(self.template, request)],
            gen_config=[self.config(request)],
            do_preprocess=False,
            adapter_name=self._adapter(request.adapter),
        )
        yield from self.stops.stream((piece.text for piece in pieces), request.stop)

    def config(self, request: ChatRequest) -> Any:
        return self.make_config(
            **generation_kwargs(
                request,
                defaults=self.defaults,
                stop_token_ids=self.stops.token_ids,
                stop_strings=self.stops.strings,
            )
        )

    def response(self, request: ChatRequest, output: Any) -> ChatResponse:
        fields = response_fields(output, self.stops, request)
        logprobs = None
        if request.logprobs:
            logprobs = token_logprobs(
                list(output.token_ids or ()), output.logprobs, request.top_logprobs, self._decode
            )
        return ChatResponse(**fields, logprobs=logprobs)

    def _adapter(self, name: str | None) -> str | None:
        wanted = name or self._default_adapter
        if wanted is not None and wanted not in self.adapters:
            raise ArgumentError(f"adapter {wanted!r} is not loaded in this engine")
        return wanted

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def build(
    folder: str | Path,
    tokenizer: Any,
    template: Any,
    engine_args: Any = None,
    *,
    max_batch_size: int = 1,
    adapters: Sequence[str] = (),
    torch_dtype: str | None = None,
    seed: int | None = None,
) -> LmdeployEngine:
    """The `lmdeploy` `EngineSpec` factory (`loads_model`): LMDeploy loads `folder` itself.
    Fails with a clear message on a machine without CUDA, before importing LMDeploy."""
    from tunekite_lmdeploy.plugin import LmdeployArguments

    args = engine_args or LmdeployArguments()
    named = named_adapters(list(adapters))
    kind, kwargs = backend_config(args, dtype=torch_dtype, adapters=named)
    require_cuda(_cuda_available)
    import lmdeploy

    config_class = lmdeploy.PytorchEngineConfig if kind == "pytorch" else lmdeploy.TurbomindEngineConfig
    pipe = lmdeploy.pipeline(
        str(folder),
        backend_config=config_class(**kwargs),
        vision_config=lmdeploy.VisionConfig(**vision_kwargs(args)),
    )
    return LmdeployEngine(pipe, tokenizer, template, adapters=named, defaults=generation_defaults(folder))
