"""Request bodies of the OpenAI API subset the server speaks, and its error shape.

Bodies are validated here, not by FastAPI, so that the key is checked before the body and
every bad request gets OpenAI's `{"error": {"message", "type", "param", "code"}}` with 400.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BodyT = TypeVar("BodyT", bound=BaseModel)
SEED_RANGE = (-(2**63), 2**63 - 1)
"""Seeds a generator takes (vLLM's range); OpenAI's API says only "integer"."""


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
    seed: int | None = Field(None, ge=SEED_RANGE[0], le=SEED_RANGE[1])
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, stop: str | list[str] | None) -> str | list[str] | None:
        if stop == "" or (isinstance(stop, list) and "" in stop):
            raise ValueError("a stop string cannot be empty")
        return stop

    def stop_words(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class FunctionCall(_Body):
    name: str = Field(min_length=1)
    arguments: str = "{}"

    def template_content(self) -> str:
        """The call as a template's `tool_call` message content (arguments as JSON when they are)."""
        try:
            arguments: Any = json.loads(self.arguments)
        except ValueError:
            arguments = self.arguments
        return json.dumps({"name": self.name, "arguments": arguments}, ensure_ascii=False)


class ToolCall(_Body):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(_Body):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    @field_validator("content")
    @classmethod
    def _text_parts_only(cls, content: Any) -> Any:
        for part in content if isinstance(content, list) else ():
            if part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise ValueError(f"only text parts are supported, got a part of type {part.get('type')!r}")
        return content

    @model_validator(mode="after")
    def _tool_fields(self) -> ChatMessage:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs the tool_call_id of the call it answers")
        if self.tool_calls and self.role != "assistant":
            raise ValueError("only assistant messages carry tool_calls")
        return self

    def text(self) -> str:
        """The content as text: a list of parts joins their texts."""
        if isinstance(self.content, list):
            return "".join(p["text"] for p in self.content)
        return self.content or ""


class FunctionDefinition(_Body):
    model_config = ConfigDict(extra="allow")  # passed to the template as the client wrote it
    name: str = Field(min_length=1)


class Tool(_Body):
    model_config = ConfigDict(extra="allow")
    type: Literal["function"] = "function"
    function: FunctionDefinition


class ChatCompletionBody(Sampling):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0)
    tools: list[Tool] | None = None

    def template_messages(self) -> list[dict[str, str]]:
        """The conversation in a template's roles: `developer` is `system` (first only), an
        assistant's `tool_calls` are `tool_call` messages, `tool` answers are `tool_response`."""
        out: list[dict[str, str]] = []
        calls: set[str | None] = set()  # the ids of the tool calls a tool message may answer
        for i, message in enumerate(self.messages):
            role, text = message.role, message.text()
            if role == "tool":
                if not calls or (message.tool_call_id not in calls and None not in calls):
                    raise APIError(
                        400,
                        "A tool message must answer a tool call of the assistant message before it.",
                        param=f"messages.{i}.tool_call_id",
                    )
                out.append({"role": "tool_response", "content": text})
                continue
            calls = set()
            if role in ("system", "developer"):
                if i:
                    raise APIError(400, "A system message may only come first.", param=f"messages.{i}.role")
                out.append({"role": "system", "content": text})
            elif role == "assistant" and message.tool_calls:
                if text:
                    out.append({"role": "assistant", "content": text})
                out += [
                    {"role": "tool_call", "content": c.function.template_content()}
                    for c in message.tool_calls
                ]
                calls = {c.id for c in message.tool_calls}
            else:
                out.append({"role": role, "content": text})
        return out

    def tool_list(self) -> list[dict[str, Any]] | None:
        return [t.model_dump(exclude_none=True) for t in self.tools] if self.tools else None


class CompletionBody(Sampling):
    prompt: str | list[str] | list[int] | list[list[int]]
    """OpenAI's four shapes: a text, texts, token ids, or lists of token ids."""
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
        param = ".".join(str(p) for p in first["loc"] if not _is_branch(p)) or None
        reason = first["msg"].removeprefix("Value error, ")
        message = f"{param}: {reason}" if param else reason
        raise APIError(400, message, code="invalid_value", param=param) from None


def _is_branch(part: Any) -> bool:
    """Whether a pydantic error location part names a union branch (`str`, `list[...]`)
    rather than a field or an index."""
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "none") or "[" in part)
