"""Row preprocessors: every supported dataset format becomes one canonical conversation.

The canonical row is the contract with the template engine::

    {"messages": [{"role": R, "content": str}, ...],  # system, user, assistant, tool_call, tool_response
     "tools": str | None,              # JSON list of OpenAI-style tool definitions
     "rejected_response": str | None,  # preference data: rejected last assistant turn
     "label": bool | None}             # KTO: desirable or not

plus the source row's other columns, kept as they are. The format is recognised per
row from which columns hold a value, so one file may mix formats. Arrow fills keys
that a row lacks with null, so nulls inside tool definitions and arguments are
dropped when they are written back to JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from tunekite.data.errors import RowError
from tunekite.templates.agent import ToolDefinitionError, tool_function

ROLES = frozenset({"system", "user", "assistant", "tool_call", "tool_response"})
CANONICAL_KEYS = ("messages", "tools", "rejected_response", "label")
FORMAT_COLUMNS = frozenset(
    {
        *CANONICAL_KEYS,
        "conversations",
        "system",
        "history",
        "instruction",
        "input",
        "output",
        "query",
        "response",
        "text",
        "chosen",
        "rejected",
        "prompt",
        "completion",
    }
)
"""Columns a recognised format reads; they are replaced by the canonical keys."""

_ROLE_ALIASES = {
    "human": "user",
    "gpt": "assistant",
    "bot": "assistant",
    "model": "assistant",
    "tool": "tool_response",
    "function": "tool_response",
    "observation": "tool_response",
    "function_call": "tool_call",
}
_ANSWER_ROLES = ("assistant", "tool_call")

Message = dict[str, str]


def _drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _text(value: Any, where: str) -> str:
    """Message content as a string; OpenAI content parts are joined if all are text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        texts = []
        for part in value:
            if isinstance(part, dict) and part.get("text") is not None:
                texts.append(str(part["text"]))
            else:
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RowError("non-text content", f"{where} holds a {kind!r} part")
        return "".join(texts)
    raise RowError("non-text content", f"{where} is a {type(value).__name__}, not a string")


def _json(value: Any, what: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise RowError(f"{what} is not valid JSON", str(exc)) from None


def tool_call_content(value: Any) -> str:
    """A tool call as the JSON string `{"name": ..., "arguments": {...}}`."""
    call = _json(value, "tool call")
    if isinstance(call, dict) and isinstance(call.get("function"), dict):
        call = call["function"]  # an OpenAI tool_calls entry
    if not isinstance(call, dict) or not isinstance(call.get("name"), str) or not call["name"]:
        raise RowError("bad tool call", f"expected {{'name': ..., 'arguments': {{...}}}}, got {value!r}")
    arguments = _json(call.get("arguments"), "tool call arguments")
    arguments = {} if arguments is None else arguments
    if not isinstance(arguments, dict):
        raise RowError("bad tool call", f"arguments of {call['name']!r} are not an object")
    return json.dumps({"name": call["name"], "arguments": _drop_nulls(arguments)}, ensure_ascii=False)


def tools_json(value: Any) -> str | None:
    """The `tools` column (a list, one tool, or a JSON string of either) as a JSON list."""
    tools = _drop_nulls(_json(value, "tools"))
    if tools is None or tools == [] or tools == "":
        return None
    if isinstance(tools, dict):
        tools = [tools]
    if not isinstance(tools, list):
        raise RowError("bad tools", "tools must be a list of tool definitions")
    for i, tool in enumerate(tools, 1):
        try:
            tool_function(tool)
        except ToolDefinitionError as exc:
            raise RowError("bad tools", f"tool {i}: {exc}") from None
    return json.dumps(tools, ensure_ascii=False)


def _role(raw: Any) -> str:
    role = _ROLE_ALIASES.get(raw, raw) if isinstance(raw, str) else raw
    if role not in ROLES:
        raise RowError("unknown role", repr(raw))
    return role


def normalize_messages(messages: Any) -> list[Message]:
    """OpenAI / ms-swift / ShareGPT message dicts as canonical messages.

    Assistant `tool_calls` become `tool_call` messages after the assistant's text.
    """
    if isinstance(messages, str):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError:
            raise RowError(
                "bad messages", "messages must be a list of {role, content} objects, got a string"
            ) from None
    if not isinstance(messages, list):
        raise RowError(
            "bad messages",
            f"messages must be a list of {{role, content}} objects, got a {type(messages).__name__}",
        )
    out: list[Message] = []
    for i, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            raise RowError("bad messages", f"message {i} is not an object")
        raw_role = message.get("role", message.get("from"))
        role = _role(raw_role)
        content = message.get("content", message.get("value"))
        calls = message.get("tool_calls") or []
        if role == "tool_call":
            out.append({"role": role, "content": tool_call_content(content)})
            continue
        text = _text(content, f"message {i}")
        if not (calls and role == "assistant" and not text):
            out.append({"role": role, "content": text})
        out.extend({"role": "tool_call", "content": tool_call_content(c)} for c in calls)
    return out


def _history(value: Any) -> list[Message]:
    out: list[Message] = []
    for pair in value or []:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RowError("bad history", "history must be a list of [query, response] pairs")
        out += [
            {"role": "user", "content": _text(pair[0], "history")},
            {"role": "assistant", "content": _text(pair[1], "history")},
        ]
    return out


def _turn(value: Any, role: str, what: str) -> list[Message]:
    """A prompt or answer given as a string or as a list of messages."""
    if value is None:
        return []
    if isinstance(value, list):
        return normalize_messages(value)
    return [{"role": role, "content": _text(value, what)}]


def _with_system(messages: list[Message], system: Any) -> list[Message]:
    """Add the `system` column unless the conversation has its own; drop empty systems."""
    if system and not any(m["role"] == "system" for m in messages):
        messages = [{"role": "system", "content": _text(system, "system")}, *messages]
    return [m for m in messages if m["role"] != "system" or m["content"].strip()]


def _last_answer(value: Any, what: str) -> str:
    """The rejected alternative: a string, or the last assistant turn of a message list."""
    if isinstance(value, list):
        messages = normalize_messages(value)
        if not messages or messages[-1]["role"] not in _ANSWER_ROLES:
            raise RowError("bad rejected response", f"{what} does not end with an assistant turn")
        return messages[-1]["content"]
    if isinstance(value, dict):  # ShareGPT preference: {"from": "gpt", "value": ...}
        return normalize_messages([value])[-1]["content"]
    return _text(value, what)


def _from_messages(row: dict) -> tuple[list[Message], Any]:
    return normalize_messages(row["messages"]), row.get("rejected_response")


def _from_sharegpt(row: dict) -> tuple[list[Message], Any]:
    messages = normalize_messages(row["conversations"])
    if isinstance(row.get("chosen"), dict):
        messages += normalize_messages([row["chosen"]])
    return messages, row.get("rejected")


def _from_preference(row: dict) -> tuple[list[Message], Any]:
    prompt = row.get("prompt", row.get("query"))
    if prompt is None and not isinstance(row["chosen"], list):
        raise RowError("no prompt", "chosen/rejected strings need a prompt or query column")
    messages = _history(row.get("history")) + _turn(prompt, "user", "prompt")
    return messages + _turn(row["chosen"], "assistant", "chosen"), row["rejected"]


def _from_prompt_completion(row: dict) -> tuple[list[Message], Any]:
    return _turn(row["prompt"], "user", "prompt") + _turn(row["completion"], "assistant", "completion"), None


def _from_alpaca(row: dict) -> tuple[list[Message], Any]:
    query = "\n".join(_text(row.get(k), k) for k in ("instruction", "input") if row.get(k))
    messages = [
        {"role": "user", "content": query},
        {"role": "assistant", "content": _text(row["output"], "output")},
    ]
    return _history(row.get("history")) + messages, None


def _from_query(row: dict) -> tuple[list[Message], Any]:
    messages = [*_history(row.get("history")), {"role": "user", "content": _text(row["query"], "query")}]
    if row.get("response") is not None:
        messages.append({"role": "assistant", "content": _text(row["response"], "response")})
    return messages, row.get("rejected_response")


def _from_text(row: dict) -> tuple[list[Message], Any]:
    return [{"role": "assistant", "content": _text(row["text"], "text")}], None


_FORMATS: tuple[tuple[tuple[str, ...], Callable[[dict], tuple[list[Message], Any]]], ...] = (
    (("messages",), _from_messages),
    (("conversations",), _from_sharegpt),
    (("chosen", "rejected"), _from_preference),
    (("prompt", "completion"), _from_prompt_completion),
    (("instruction", "output"), _from_alpaca),
    (("query",), _from_query),
    (("text",), _from_text),
)


def _label(value: Any) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise RowError("bad label", f"KTO label must be true/false, got {value!r}")


def to_conversation(row: dict, *, require_response: bool = True) -> dict:
    """Turn one source row of any recognised format into a canonical row.

    Raises `RowError` when the row fits no format or breaks a canonical rule.
    `require_response=False` keeps prompt-only rows (GRPO and inference).
    """
    present = {k for k, v in row.items() if v is not None}
    convert = next((fn for keys, fn in _FORMATS if present.issuperset(keys)), None)
    if convert is None:
        raise RowError("no recognised format", f"columns with values: {sorted(present)}")
    messages, rejected = convert(row)
    canonical = {
        "messages": _with_system(messages, row.get("system")),
        "tools": tools_json(row.get("tools")),
        "rejected_response": None if rejected is None else _last_answer(rejected, "rejected"),
        "label": _label(row.get("label")),
    }
    validate_conversation(canonical, require_response=require_response)
    extras = {k: v for k, v in row.items() if k not in FORMAT_COLUMNS}
    return {**extras, **canonical}


def validate_conversation(row: dict, *, require_response: bool = True) -> None:
    """Check that a row is canonical; raise `RowError` saying what is wrong."""
    missing = [k for k in CANONICAL_KEYS if k not in row]
    if missing:
        raise RowError("not canonical", f"missing keys {missing}")
    messages = row["messages"]
    if not isinstance(messages, list) or not messages:
        raise RowError("empty conversation")
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), str):
            raise RowError(
                "not canonical", f"message {i} is not {{'role': one of {sorted(ROLES)}, 'content': str}}"
            )
        if m["role"] == "system" and i != 1:
            raise RowError("misplaced system message", f"message {i} is a system message")
        if m["role"] == "assistant" and not m["content"].strip():
            raise RowError("empty assistant turn", f"message {i}")
        if m["role"] == "tool_call":
            tool_call_content(m["content"])
    if require_response and messages[-1]["role"] not in _ANSWER_ROLES:
        raise RowError("no final assistant turn", f"the last message is a {messages[-1]['role']} message")
    if row["tools"] is not None and not isinstance(row["tools"], str):
        raise RowError("not canonical", "tools must be a JSON string or None")
    if row["rejected_response"] is not None and not (
        isinstance(row["rejected_response"], str) and row["rejected_response"].strip()
    ):
        raise RowError("empty rejected response")
    if row["label"] is not None and not isinstance(row["label"], bool):
        raise RowError("not canonical", "label must be a bool or None")
