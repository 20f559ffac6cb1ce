"""Request bodies of the OpenAI API subset the server speaks, and its error shape.

Bodies are validated here, not by FastAPI, so that the key is checked before the body and
every bad request gets OpenAI's `{"error": {"message", "type", "param", "code"}}` with 400.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

BodyT = TypeVar("BodyT", bound=BaseModel)


class APIError(Exception):
    """An error answered with an OpenAI-style body and `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type, code, param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # OpenAI fields we do not use are accepted, as vLLM does


class StreamOptions(_Body):
    include_usage: bool = False


class Sampling(_Body):
    """Fields the chat and completions bodies share; `None` keeps the model's generation config."""

    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=1)
    repetition_penalty: float | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    n: int = Field(1, ge=1, le=16)
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None

    def stop_words(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class ChatMessage(_Body):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The content as text: a list of parts keeps its text parts."""
        if isinstance(self.content, list):
            return "".join(p.get("text", "") for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionBody(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0)
    tools: list[dict[str, Any]] | None = None


class CompletionBody(Sampling):
    prompt: str | list[str]
    logprobs: int | None = Field(None, ge=0)


class LoadAdapterBody(_Body):
    name: str = Field(min_length=1)
    path: str = Field(min_length=1)


class UnloadAdapterBody(_Body):
    name: str = Field(min_length=1)


def parse_body(raw: bytes, model: type[BodyT]) -> BodyT:
    """`raw` JSON validated as `model`; an `APIError` (400) naming the first bad field."""
    try:
        return model.model_validate_json(raw or b"null")
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise APIError(400, f"Malformed JSON body: {first['msg']}", code="invalid_json") from None
        param = ".".join(str(p) for p in first["loc"]) or None
        message = f"{param}: {first['msg']}" if param else first["msg"]
        raise APIError(400, message, code="invalid_value", param=param) from None
