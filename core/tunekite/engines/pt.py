"""The PyTorch engine: transformers' `generate` with real batching.

Requests that share generation settings are answered together, up to `max_batch_size`
at a time, left-padded so that every prompt ends where generation starts (one forward
pass per token for the whole batch, with the KV cache).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from tunekite.engines.protocol import ChatRequest, ChatResponse


class PtEngine:
    """`model` may be a `peft.PeftModel`; `template` is a `tunekite.api.Template`."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        template: Any,
        *,
        max_batch_size: int = 1,
        default_max_tokens: int = 512,
    ) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.template = template
        self.max_batch_size = max(1, max_batch_size)
        self.default_max_tokens = default_max_tokens
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.eos_ids = _eos_ids(model, tokenizer)
        self._lock = threading.Lock()  # generate() is not re-entrant on one model

    # Public contract --------------------------------------------------------------------

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        results: list[ChatResponse | None] = [None] * len(requests)
        groups: dict[str, list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(repr(self._settings(request)), []).append(index)
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch_size):
                chunk = indices[start : start + self.max_batch_size]
                for index, response in zip(chunk, self._batch([requests[i] for i in chunk]), strict=True):
                    results[index] = response
        return [r for r in results if r is not None]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        import torch
        from transformers import TextIteratorStreamer

        ids = self.template.prompt_ids(request.messages, request.tools)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        kwargs = self._generate_kwargs(request)
        inputs = torch.tensor([ids], device=self.model.device)

        def generate() -> None:
            with self._lock, torch.no_grad():
                self._select_adapter(request.adapter)
                self.model.generate(
                    input_ids=inputs, attention_mask=torch.ones_like(inputs), streamer=streamer, **kwargs
                )

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        for text in streamer:
            if text:
                yield text
        worker.join()

    # Generation --------------------------------------------------------------------------

    def _settings(self, request: ChatRequest) -> tuple[Any, ...]:
        kwargs = self._generate_kwargs(request)
        kwargs.pop("tokenizer")
        return (
            *sorted(kwargs.items()),
            request.seed,
            request.adapter,
            request.logprobs,
            request.top_logprobs,
        )

    def _generate_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        """ms-swift's meaning: temperature 0 is greedy; None leaves the model's generation config."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": request.max_tokens or self.default_max_tokens,
            "num_beams": request.num_beams,
            "pad_token_id": self.pad_id,
            "stop_strings": list(dict.fromkeys([*self.template.stop_words, *request.stop])),
            "tokenizer": self.tokenizer,
        }
        if request.temperature is not None:
            kwargs["do_sample"] = request.temperature > 0
            if request.temperature > 0:
                kwargs["temperature"] = request.temperature
        for name in ("top_p", "top_k", "repetition_penalty"):
            if getattr(request, name) is not None:
                kwargs[name] = getattr(request, name)
        return kwargs

    def _batch(self, requests: list[ChatRequest]) -> list[ChatResponse]:
        import torch

        first = requests[0]
        prompts = [self.template.prompt_ids(r.messages, r.tools) for r in requests]
        width = max(len(p) for p in prompts)
        input_ids = torch.tensor(
            [[self.pad_id] * (width - len(p)) + p for p in prompts], device=self.model.device
        )
        attention = torch.tensor(
            [[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.model.device
        )
        with self._lock, torch.no_grad():
            self._select_adapter(first.adapter)
            if first.seed is not None:
                torch.manual_seed(first.seed)
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                return_dict_in_generate=True,
                output_scores=first.logprobs,
                **self._generate_kwargs(first),
            )
        generated = out.sequences[:, width:].tolist()
        responses = []
        for row, (request, prompt, tokens) in enumerate(zip(requests, prompts, generated, strict=True)):
            ended = next((i for i, t in enumerate(tokens) if t in self.eos_ids), None)
            kept = tokens[:ended] if ended is not None else tokens
            text, stopped = self._cut_at_stop_words(
                self.tokenizer.decode(kept, skip_special_tokens=True), request
            )
            limit = request.max_tokens or self.default_max_tokens
            finish = "length" if ended is None and not stopped and len(tokens) >= limit else "stop"
            logprobs = (
                _logprobs(self.tokenizer, out.scores, row, kept, request.top_logprobs)
                if first.logprobs
                else None
            )
            responses.append(ChatResponse(text, finish, len(prompt), len(kept), logprobs))
        return responses

    def _cut_at_stop_words(self, text: str, request: ChatRequest) -> tuple[str, bool]:
        """End at the first stop word; ms-swift keeps a user's stop word in the text."""
        hits = [(text.find(w), w) for w in request.stop if w and w in text]
        hits += [(text.find(w), "") for w in self.template.stop_words if w and w in text]
        if not hits:
            return text, False
        position, kept = min(hits)
        return text[: position + len(kept)], True

    def _select_adapter(self, name: str | None) -> None:
        if name is not None and hasattr(self.model, "set_adapter"):
            self.model.set_adapter(name)


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids = set(configured if isinstance(configured, list) else [configured])
    ids.add(tokenizer.eos_token_id)
    return {i for i in ids if i is not None}


def _logprobs(
    tokenizer: Any, scores: Any, row: int, tokens: list[int], top: int | None
) -> list[dict[str, Any]]:
    """Per generated token: its text, log probability and the `top` alternatives (OpenAI's shape)."""
    import torch

    out = []
    for step, token in enumerate(tokens):
        logp = torch.log_softmax(scores[step][row].float(), dim=-1)
        entry: dict[str, Any] = {"token": tokenizer.decode([token]), "logprob": logp[token].item()}
        if top:
            values, ids = logp.topk(top)
            entry["top_logprobs"] = [
                {"token": tokenizer.decode([i]), "logprob": v}
                for v, i in zip(values.tolist(), ids.tolist(), strict=True)
            ]
        out.append(entry)
    return out


def build(model: Any, tokenizer: Any, template: Any, engine_args: Any = None, **options: Any) -> PtEngine:
    """The `EngineSpec` factory: `(model, tokenizer, template, engine_args) -> Engine`."""
    if engine_args is not None and getattr(engine_args, "max_batch_size", None):
        options.setdefault("max_batch_size", engine_args.max_batch_size)
    return PtEngine(model, tokenizer, template, **options)
