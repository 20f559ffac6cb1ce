"""The PyTorch engine: transformers' `generate` with real batching.

Requests that share generation settings are answered together, up to `max_batch_size`
at a time, left-padded so that every prompt ends where generation starts (one forward
pass per new token for the whole batch, with the KV cache). torch and transformers are
imported inside the methods, so importing this module stays cheap.
"""

from __future__ import annotations

import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from tunekite.engines.logprobs import token_logprobs
from tunekite.engines.protocol import ChatRequest, ChatResponse, TokenLogprob, request_prompt_ids
from tunekite.engines.stops import StopWords
from tunekite.errors import ArgumentError


class PtEngine:
    """Answers `ChatRequest`s with an HF causal LM (optionally a `peft.PeftModel`), its
    tokenizer and a `tunekite.api.Template` (which renders prompts and names stop words)."""

    def __init__(self, model: Any, tokenizer: Any, template: Any, *, max_batch_size: int = 1) -> None:
        if max_batch_size < 1:
            raise ArgumentError(f"--max_batch_size must be at least 1, got {max_batch_size}")
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.template = template
        self.max_batch_size = max_batch_size
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.stops = StopWords.of(template, tokenizer)
        """Where replies end; the template's end-of-turn and EOS are removed from them."""
        self.default_adapter: str | None = (
            getattr(model, "active_adapter", None) if hasattr(model, "peft_config") else None
        )
        """The adapter of requests that name none; None runs the base model with every adapter
        disabled (a server that serves the base next to named adapters sets it so)."""
        self._lock = threading.Lock()  # one generate() at a time per model

    # The Engine contract ---------------------------------------------------------------

    def infer(self, requests: Sequence[ChatRequest]) -> list[ChatResponse]:
        """Batches of up to `max_batch_size` requests with equal settings, answers in order."""
        groups: dict[tuple[Any, ...], list[int]] = {}
        for index, request in enumerate(requests):
            groups.setdefault(_settings_key(request), []).append(index)
        results: dict[int, ChatResponse] = {}
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch_size):
                chunk = indices[start : start + self.max_batch_size]
                results.update(zip(chunk, self._generate([requests[i] for i in chunk]), strict=True))
        return [results[i] for i in range(len(requests))]

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """Text deltas from a generation thread; text that may still become a stop word is
        held back, so the deltas join to exactly what `infer` returns."""
        import torch
        from transformers import TextIteratorStreamer

        prompt = self.prompt_ids(request)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=False)
        inputs = torch.tensor([prompt], device=self.model.device)
        failure: list[BaseException] = []

        def generate() -> None:
            try:
                self._run_generate(request, inputs, torch.ones_like(inputs), len(prompt), streamer=streamer)
            except BaseException as exc:  # re-raised in the caller's thread
                failure.append(exc)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        try:
            yield from self.stops.stream(streamer, request.stop)
        finally:
            worker.join()
        if failure:
            raise failure[0]

    # Batches for the async front (`tunekite.engines.batching`) -------------------------

    def infer_batch(
        self,
        requests: Sequence[ChatRequest],
        streamer: Any = None,
        cancelled: Callable[[], Sequence[bool]] | None = None,
    ) -> list[ChatResponse]:
        """One `generate` call for requests with equal settings (at most `max_batch_size`);
        `streamer`, a transformers `BaseStreamer`, gets the prompt ids and then each step's
        `(batch,)` new tokens, so a whole batch can be streamed. `cancelled()` says, after
        each new token, which rows nobody waits for any more: they stop generating there (and
        the whole call returns once every row has stopped); their responses are meaningless."""
        return self._generate(list(requests), streamer, cancelled)

    @property
    def context_length(self) -> int | None:
        """The most tokens (prompt and reply) the model attends to; None when its config
        does not say."""
        return getattr(self.model.config, "max_position_embeddings", None)

    def prompt_ids(self, request: ChatRequest) -> list[int]:
        """The token ids the reply to `request` continues (how long its prompt is)."""
        return request_prompt_ids(request, self.template, self.tokenizer)

    def partial_reply(self, tokens: Sequence[int], request: ChatRequest) -> tuple[str, bool]:
        """The final part of a reply generated so far and whether it has ended: stop words are
        cut as `infer` cuts them, and text that may still become one (or half a character)
        is held back, so streamed prefixes never have to be taken back."""
        return self.stops.settled(self._decode(list(tokens)), request.stop)

    # Adapters loaded while running (`tk run deploy`'s /v1/adapters/load and unload) --------

    def load_adapter(self, name: str, folder: str) -> None:
        """Add the PEFT adapter saved in `folder` as `name` (the model becomes, or stays, a
        `peft.PeftModel`); requests then name it in `ChatRequest.adapter`."""
        from tunekite.tuners import apply_adapter

        self.model = apply_adapter(self.model, folder, name).eval()

    def unload_adapter(self, name: str) -> None:
        """Remove adapter `name`; without adapters left the model is the plain base again."""
        if name not in (getattr(self.model, "peft_config", None) or {}):
            raise ArgumentError(f"adapter {name!r} is not loaded in this engine")
        if len(self.model.peft_config) == 1:  # peft cannot delete its last adapter
            self.model = self.model.unload()
        else:
            self.model.delete_adapter(name)
        if self.default_adapter == name:
            self.default_adapter = None

    # Generation --------------------------------------------------------------------------

    def _generate(
        self,
        requests: list[ChatRequest],
        streamer: Any = None,
        cancelled: Callable[[], Sequence[bool]] | None = None,
    ) -> list[ChatResponse]:
        import torch

        first = requests[0]
        if first.logprobs and first.num_beams > 1:
            raise ArgumentError("logprobs are not available with beam search (num_beams > 1)")
        prompts = [self.prompt_ids(r) for r in requests]
        width = max(len(p) for p in prompts)
        device = self.model.device
        input_ids = torch.tensor([[self.pad_id] * (width - len(p)) + p for p in prompts], device=device)
        attention = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        out = self._run_generate(first, input_ids, attention, width, streamer=streamer, cancelled=cancelled)
        responses = []
        for row, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
            tokens = out.sequences[row, width:].tolist()
            reply, stopped = self.stops.cut(self._decode(tokens), request.stop)
            used = self._tokens_until_stop(tokens, request.stop) if stopped else len(tokens)
            logprobs = self._logprobs(out.logits, row, tokens[:used], request.top_logprobs)
            responses.append(
                ChatResponse(
                    text=reply,
                    finish_reason="stop" if stopped else "length",
                    prompt_tokens=len(prompt),
                    completion_tokens=used,
                    logprobs=logprobs if request.logprobs else None,
                    token_ids=tokens[:used],
                )
            )
        return responses

    def _run_generate(
        self,
        request: ChatRequest,
        input_ids: Any,
        attention: Any,
        width: int,
        streamer: Any = None,
        cancelled: Callable[[], Sequence[bool]] | None = None,
    ) -> Any:
        import torch
        from transformers import StoppingCriteriaList

        if request.n != 1:
            raise ArgumentError(f"the pt engine answers one choice per request (n=1), got n={request.n}")
        config = self._generation_config(request, width)
        with self._lock, torch.no_grad(), self._adapter(request.adapter):
            if request.seed is not None:
                torch.manual_seed(request.seed)
            return self.model.generate(
                input_ids=input_ids,
                attention_mask=attention,
                generation_config=config,
                tokenizer=self.tokenizer,
                streamer=streamer,
                stopping_criteria=StoppingCriteriaList([_rows_stopper(cancelled)] if cancelled else []),
            )

    def _generation_config(self, request: ChatRequest, width: int) -> Any:
        """The model's generation config with the request's settings on top (ms-swift's
        meaning: temperature 0 is greedy, None keeps what generation_config.json says)."""
        from transformers import GenerationConfig

        base = getattr(self.model, "generation_config", None)
        config = copy.deepcopy(base) if base is not None else GenerationConfig()
        limit = getattr(self.model.config, "max_position_embeddings", None)
        config.max_new_tokens = request.max_tokens or (max(limit - width, 1) if limit else 2048)
        config.max_length = None
        config.num_beams = request.num_beams
        config.pad_token_id = self.pad_id
        config.eos_token_id = list(self.stops.token_ids) or None
        config.stop_strings = [*self.stops.strings, *request.stop] or None
        config.return_dict_in_generate = True
        config.output_logits = request.logprobs
        for name in ("temperature", "top_p", "top_k", "repetition_penalty"):
            if getattr(request, name) is not None:
                setattr(config, name, getattr(request, name))
        if request.temperature is not None:
            config.do_sample = request.temperature > 0
        if not config.do_sample:
            config.temperature = config.top_p = config.top_k = None
        return config

    # Text ------------------------------------------------------------------------------

    def _decode(self, tokens: list[int]) -> str:
        return self.tokenizer.decode(tokens, skip_special_tokens=False)

    def _tokens_until_stop(self, tokens: list[int], stop: Sequence[str]) -> int:
        """The fewest leading tokens whose text already holds a stop word (binary search)."""
        low, high = 1, len(tokens)
        while low < high:
            middle = (low + high) // 2
            if self.stops.cut(self._decode(tokens[:middle]), stop)[1]:
                high = middle
            else:
                low = middle + 1
        return high

    def _logprobs(self, logits: Any, row: int, tokens: list[int], top: int | None) -> list[TokenLogprob]:
        """Each token's log probability under the model's (unprocessed) distribution."""
        if logits is None:
            return []
        import torch

        steps = []
        for step, token in enumerate(tokens):
            logp = torch.log_softmax(logits[step][row].float(), dim=-1)
            candidates: dict[int, float] = {}
            if top:
                values, ids = logp.topk(top)
                candidates = dict(zip(ids.tolist(), values.tolist(), strict=True))
            candidates.setdefault(token, logp[token].item())
            steps.append(candidates)
        return token_logprobs(tokens, steps, top, self._decode)

    def _adapter(self, name: str | None) -> contextlib.AbstractContextManager[Any]:
        """Activates the adapter a request names (else `default_adapter`), or disables all."""
        wanted = name or self.default_adapter
        peft_config = getattr(self.model, "peft_config", None)
        if wanted is None:
            # peft before 0.21 leaves `peft_config` on a model whose adapters were merged away
            active = peft_config and hasattr(self.model, "disable_adapter")
            return self.model.disable_adapter() if active else contextlib.nullcontext()
        if wanted not in (peft_config or {}):
            raise ArgumentError(f"adapter {wanted!r} is not loaded in this engine")
        self.model.set_adapter(wanted)
        return contextlib.nullcontext()


def _rows_stopper(cancelled: Callable[[], Sequence[bool]]) -> Any:
    """A transformers stopping criterion that ends the rows `cancelled()` names."""
    import torch
    from transformers import StoppingCriteria

    class RowsStopper(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.tensor(list(cancelled()), dtype=torch.bool, device=input_ids.device)

    return RowsStopper()


def _settings_key(request: ChatRequest) -> tuple[Any, ...]:
    """Requests with equal keys can share one `generate` call."""
    return (
        request.max_tokens,
        request.temperature,
        request.top_p,
        request.top_k,
        request.repetition_penalty,
        request.num_beams,
        tuple(request.stop),
        request.logprobs,
        request.top_logprobs,
        request.n,
        request.seed,
        request.adapter,
    )


def build(
    model: Any, tokenizer: Any, template: Any, engine_args: Any = None, *, max_batch_size: int = 1
) -> PtEngine:
    """The `pt` `EngineSpec` factory; the pt engine has no arguments of its own."""
    return PtEngine(model, tokenizer, template, max_batch_size=max_batch_size)
