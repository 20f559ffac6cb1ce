"""What the page does with a message, without gradio: the conversation so far plus the new
message become a `ChatRequest`, a backend streams the reply, and each step yields the
updated conversation for the page to show.

Two backends: `EngineBackend` over a TuneKite engine in this process, and `OpenAIBackend`
over an OpenAI-compatible server (`tk run deploy`, vLLM, ...) through the `openai` client.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from tunekite.api import ChatRequest

Message = dict[str, str]


@dataclass(frozen=True)
class Settings:
    """Generation settings of one send: the page's sliders over the run's `--temperature`,
    `--max_new_tokens`, `--top_p`, ... (the fixed ones come from the generation group)."""

    temperature: float | None = None
    max_tokens: int | None = None
    top_p: float | None = None
    top_k: int | None = None
    repetition_penalty: float | None = None
    stop: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_generation(cls, generation: Any) -> Settings:
        """The run's generation group (`tk run app --temperature 0 --max_new_tokens 64 ...`)."""
        return cls(
            temperature=generation.temperature,
            max_tokens=generation.max_new_tokens,
            top_p=generation.top_p,
            top_k=generation.top_k,
            repetition_penalty=generation.repetition_penalty,
            stop=tuple(generation.stop_words),
        )

    def with_page(self, temperature: float | None, max_tokens: float | None) -> Settings:
        """These settings with the page's slider values (a slider gives floats)."""
        return Settings(
            temperature=None if temperature is None else float(temperature),
            max_tokens=None if max_tokens is None else int(max_tokens),
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            stop=self.stop,
            extra=self.extra,
        )


def text_of(content: Any) -> str:
    """The text of a message's content: a string, or the parts a Gradio chatbot passes
    (`[{"type": "text", "text": ...}, ...]`); files and components count as no text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, Mapping):
        return str(content.get("text") or "")
    if isinstance(content, Sequence):
        return "".join(text_of(part) for part in content)
    return str(content)


def conversation(history: Sequence[Any] | None) -> list[Message]:
    """`history` as plain `{"role", "content"}` messages: message dicts (OpenAI or Gradio
    style) or Gradio's older `[user, assistant]` pairs; empty turns are dropped."""
    messages: list[Message] = []
    for item in history or ():
        if isinstance(item, Mapping):
            role, text = str(item.get("role", "user")), text_of(item.get("content"))
            if role in ("user", "assistant", "system") and (text or role == "assistant"):
                messages.append({"role": role, "content": text})
        else:
            user, assistant = [*list(item), None, None][:2]
            if user is not None:
                messages.append({"role": "user", "content": text_of(user)})
            if assistant is not None:
                messages.append({"role": "assistant", "content": text_of(assistant)})
    return messages


def build_messages(message: str, history: Sequence[Any] | None, system: str | None) -> list[Message]:
    """The prompt of one send: the system prompt (when not blank), the conversation without
    any earlier system message, then the new user message."""
    messages = [m for m in conversation(history) if m["role"] != "system"]
    if system and system.strip():
        messages.insert(0, {"role": "system", "content": system})
    messages.append({"role": "user", "content": message})
    return messages


def build_request(
    message: str, history: Sequence[Any] | None, system: str | None, settings: Settings
) -> ChatRequest:
    """The `ChatRequest` a send makes (temperature 0 is greedy decoding)."""
    return ChatRequest(
        messages=build_messages(message, history, system),
        temperature=settings.temperature,
        max_tokens=settings.max_tokens,
        top_p=settings.top_p,
        top_k=settings.top_k,
        repetition_penalty=settings.repetition_penalty,
        stop=settings.stop,
    )


class Backend(Protocol):
    """Where replies come from."""

    name: str
    """The model's name: the page's default title."""

    def stream(self, request: ChatRequest) -> Iterator[str]:
        """The reply to `request` as text deltas."""
        ...


class EngineBackend:
    """A TuneKite engine in this process (`--infer_backend`, default pt)."""

    def __init__(self, engine: Any, name: str) -> None:
        self.engine = engine
        self.name = name

    def stream(self, request: ChatRequest) -> Iterator[str]:
        return self.engine.stream(request)


class OpenAIBackend:
    """An OpenAI-compatible server at `base_url` (`tk run deploy`); no model is loaded here.
    `model` None asks the server for its first model (`/v1/models`), as ms-swift does."""

    def __init__(self, base_url: str, api_key: str | None = None, model: str | None = None,
                 client: Any = None) -> None:
        if client is None:
            from openai import OpenAI

            client = OpenAI(base_url=base_url, api_key=api_key or "EMPTY")
        self.client = client
        self.base_url = base_url
        self.name = model or self._first_model()

    def _first_model(self) -> str:
        models = list(self.client.models.list())
        if not models:
            from tunekite.api import ArgumentError

            raise ArgumentError(f"--base_url {self.base_url}: the server lists no model; pass --model NAME")
        return models[0].id

    def request_kwargs(self, request: ChatRequest) -> dict[str, Any]:
        """`chat.completions.create` arguments for a request: OpenAI's own fields, and
        `top_k` / `repetition_penalty` in the body as vLLM and `tk run deploy` accept them."""
        kwargs: dict[str, Any] = {"model": self.name, "messages": [dict(m) for m in request.messages]}
        for key in ("temperature", "max_tokens", "top_p"):
            if getattr(request, key) is not None:
                kwargs[key] = getattr(request, key)
        if request.stop:
            kwargs["stop"] = list(request.stop)
        extra = {
            k: getattr(request, k) for k in ("top_k", "repetition_penalty") if getattr(request, k) is not None
        }
        if extra:
            kwargs["extra_body"] = extra
        return kwargs

    def stream(self, request: ChatRequest) -> Iterator[str]:
        chunks = self.client.chat.completions.create(stream=True, **self.request_kwargs(request))
        try:
            for chunk in chunks:
                for choice in chunk.choices or ():
                    if choice.delta is not None and choice.delta.content:
                        yield choice.delta.content
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()


def respond(
    backend: Backend,
    message: str,
    history: Sequence[Any] | None,
    system: str | None,
    settings: Settings,
) -> Iterator[list[Message]]:
    """One send, streamed: yields the conversation with the user's message and the reply so
    far, first with an empty reply, then after each delta. A blank message yields the
    conversation unchanged."""
    past = conversation(history)
    if not message or not message.strip():
        yield past
        return
    request = build_request(message, past, system, settings)
    shown = [m for m in past if m["role"] != "system"]
    shown.append({"role": "user", "content": message})
    reply = {"role": "assistant", "content": ""}
    shown.append(reply)
    yield [dict(m) for m in shown]
    for delta in backend.stream(request):
        reply["content"] += delta
        yield [dict(m) for m in shown]
