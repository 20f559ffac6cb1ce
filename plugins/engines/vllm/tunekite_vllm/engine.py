"""The vLLM engine: `vllm.LLM` fed with prompts rendered by TuneKite's `Template`.

`infer` hands all requests to one `LLM.generate` call (vLLM batches them itself, up to
`--max_num_seqs`; `--max_batch_size` is the pt engine's knob and is not used). `stream`
adds the request to vLLM's engine and steps it, yielding the text as it grows: real
token-by-token streaming, holding back text that may still become a stop word, so the
deltas join to exactly what `infer` returns. One call runs at a time (a lock): `vllm.LLM`
is not thread-safe. An engine started with LoRA (`--adapters`) can also load and unload
adapters while it runs (`load_adapter`, `unload_adapter`): GRPO serves the policy's
adapter of each training step that way.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import (
    DEFAULT_ADAPTER,
    ArgumentError,
    ChatRequest,
    ChatResponse,
    StopWords,
    named_adapters,
    request_prompt_ids,
    token_logprobs,
)
from tunekite_vllm.mapping import (
    check_request,
    llm_kwargs,
    prompt,
    sampling_kwargs,
)


def generation_defaults(folder: str | Path) -> dict[str, Any]:
    """The sampling settings of the model's generation_config.json, as transformers' `generate`
    (the pt engine) applies them: without `do_sample: true` decoding is greedy."""
    path = Path(folder) / "generation_config.json"
    config = json.loads(path.read_text()) if path.is_file() else {}
    if not config.get("do_sample", False):
        return {"temperature": 0.0, **_present(config, "repetition_penalty")}
    return _present(config, "temperature", "top_p", "top_k", "repetition_penalty")


def _present(config: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: config[n] for n in names if config.get(n) is not None}


class VllmEngine:
    """Answers `ChatRequest`s with a `vllm.LLM`; `adapters` ({name: folder}) become
    `LoRARequest`s. An adapter named `default` (an unnamed `--adapters PATH`) answers the
    requests that name none, as a peft model does in the pt engine; with only named
    adapters such requests get the base model. `max_batch_size` is what the async front
    (`tk run deploy`) hands over at once: vLLM's `max_num_seqs`. `lora` says whether the
    `LLM` was started with LoRA enabled (it is whenever `adapters` are given), which
    `load_adapter` needs."""

    def __init__(
        self,
        llm: Any,
        tokenizer: Any,
        template: Any,
        *,
        adapters: dict[str, str] | None = None,
        defaults: dict[str, Any] | None = None,
        max_batch_size: int = 256,
        lora: bool | None = None,
    ) -> None:
        from vllm.lora.request import LoRARequest

        self.llm = llm
        self.tokenizer = tokenizer
        self.template = template
        self.defaults = dict(defaults or {})
        self.stops = StopWords.of(template, tokenizer)
        self._loras = {
            name: LoRARequest(name, index + 1, str(path))
            for index, (name, path) in enumerate((adapters or {}).items())
        }
        self._default_adapter = DEFAULT_ADAPTER if DEFAULT_ADAPTER in self._loras else None
        self._next_lora_id = len(self._loras) + 1  # vLLM tells LoRAs apart by id: never reuse one
        self.lora = bool(self._loras) if lora is None else lora
        self.max_batch_size = max_batch_size
        self._lock = threading.Lock()

    # The Engine contract ---------------------------------------------------------------

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """All requests in one `LLM.generate` call; answers in order."""
        if not requests:
            return []
        prompts = [self._prompt_ids(r) for r in requests]
        params = [self._sampling(r) for r in requests]
        loras = [self._lora(r.adapter) for r in requests]
        with self._lock:
            outputs = self.llm.generate(
                [prompt(p) for p in prompts],
                params,
                lora_request=loras if any(loras) else None,
                use_tqdm=False,
            )
        return [
            self._response(request, len(ids), out.outputs[0])
            for request, ids, out in zip(requests, prompts, outputs, strict=True)
        ]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Text deltas as vLLM's engine produces tokens (see the module docstring)."""
        yield from self.stops.stream(self._texts(request), request.stop, cumulative=True)

    def _texts(self, request: ChatRequest) -> Iterator[str]:
        """The request's text so far after each step of vLLM's engine; closing this early
        (at a stop word, or when the caller stops reading) aborts the request."""
        ids = self._prompt_ids(request)
        params = self._sampling(request)
        lora = self._lora(request.adapter)
        with self._lock:
            engine = self.llm.llm_engine
            request_id = f"tk-stream-{uuid.uuid4().hex}"
            engine.add_request(request_id, prompt(ids), params, lora_request=lora)
            try:
                while engine.has_unfinished_requests():
                    for out in engine.step():
                        if out.request_id == request_id:
                            yield out.outputs[0].text
            finally:
                if engine.has_unfinished_requests():
                    engine.abort_request([request_id])

    # Adapters loaded while running -------------------------------------------------------

    def load_adapter(self, name: str, folder: str | Path) -> None:
        """Serve the PEFT LoRA adapter saved in `folder` as `name`, from the next request
        on. vLLM reads the folder now (a bad adapter fails here, not in a request) and again
        whenever it has evicted the adapter from its cache, so the folder must stay while the
        adapter is loaded. A new id each time: vLLM caches adapters by id."""
        from vllm.lora.request import LoRARequest

        if not self.lora:
            raise ArgumentError(
                "this vLLM engine was started without LoRA: start it with --adapters to load adapters later"
            )
        if name in self._loras:
            raise ArgumentError(f"an adapter named {name!r} is already loaded; unload it first")
        if not (Path(folder) / "adapter_config.json").is_file():
            raise ArgumentError(f"{folder}: no adapter_config.json, so it is not a PEFT adapter")
        lora = LoRARequest(name, self._next_lora_id, str(folder))
        self._next_lora_id += 1
        with self._lock:
            self.llm.llm_engine.add_lora(lora)
        self._loras[name] = lora

    def unload_adapter(self, name: str) -> None:
        """Stop serving adapter `name` and drop it from vLLM's cache."""
        lora = self._loras.pop(name, None)
        if lora is None:
            raise ArgumentError(f"adapter {name!r} is not loaded in this engine")
        if self._default_adapter == name:
            self._default_adapter = None
        with self._lock:
            self.llm.llm_engine.remove_lora(lora.lora_int_id)

    # Conversion ------------------------------------------------------------------------

    def _prompt_ids(self, request: ChatRequest) -> list[int]:
        return request_prompt_ids(request, self.template, self.tokenizer)

    def _sampling(self, request: ChatRequest) -> Any:
        from vllm import SamplingParams

        check_request(request)
        return SamplingParams(
            **sampling_kwargs(
                request,
                defaults=self.defaults,
                stop_token_ids=self.stops.token_ids,
                stop_strings=self.stops.strings,
            )
        )

    def _lora(self, name: str | None) -> Any:
        wanted = name or self._default_adapter
        if wanted is None:
            return None
        if wanted not in self._loras:
            raise ArgumentError(f"adapter {wanted!r} is not loaded in this engine")
        return self._loras[wanted]

    def _response(self, request: ChatRequest, prompt_tokens: int, completion: Any) -> ChatResponse:
        text, stopped = self.stops.cut(completion.text, request.stop)
        if completion.finish_reason == "stop":
            stopped = True
        logprobs = None
        if request.logprobs:
            logprobs = token_logprobs(
                list(completion.token_ids), completion.logprobs, request.top_logprobs, self._decode
            )
        return ChatResponse(
            text=text,
            finish_reason="stop" if stopped else "length",
            prompt_tokens=prompt_tokens,
            completion_tokens=len(completion.token_ids),
            logprobs=logprobs,
            token_ids=list(completion.token_ids),
        )

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    def close(self) -> None:
        """Stop vLLM's engine core and free its memory."""
        llm, self.llm = self.llm, None
        shutdown = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if shutdown is not None and hasattr(shutdown, "shutdown"):
            shutdown.shutdown()


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
) -> VllmEngine:
    """The `vllm` `EngineSpec` factory (`loads_model`): vLLM loads `folder` itself.
    `max_batch_size` is not used: vLLM schedules up to `--max_num_seqs` sequences."""
    import torch
    from vllm import LLM

    from tunekite_vllm.plugin import VllmArguments

    named = named_adapters(list(adapters))
    kwargs = llm_kwargs(
        engine_args or VllmArguments(),
        folder,
        dtype=torch_dtype,
        adapters=named,
        seed=seed,
        has_gpu=torch.cuda.is_available(),
    )
    llm = LLM(**kwargs)
    return VllmEngine(
        llm,
        tokenizer,
        template,
        adapters=named,
        defaults=generation_defaults(folder),
        max_batch_size=kwargs["max_num_seqs"],
        lora=kwargs.get("enable_lora", False),
    )
