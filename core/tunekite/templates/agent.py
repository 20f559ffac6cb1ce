"""Tool-use prompt formats (`--tools_prompt`): how tools, calls and results read as text.

A conversation's `tools` column becomes part of the system prompt; a `tool_call`
message becomes text inside the assistant turn; a `tool_response` either continues
the assistant turn (ReAct's `Observation:`) or becomes a turn of its own (Qwen's
`<tool_response>` inside a user turn).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from tunekite.errors import ArgumentError, TunekiteError


class ToolDefinitionError(TunekiteError, ValueError):
    """A `tools` entry that is not a function definition with a name."""


def parse_call(content: str) -> tuple[str, Any]:
    """A `tool_call` message's JSON content as (name, arguments)."""
    try:
        call = json.loads(content)
        return call["name"], call.get("arguments", {})
    except (ValueError, TypeError, KeyError):
        raise ValueError(
            f'tool_call content must be JSON {{"name": ..., "arguments": ...}}, got {content!r}'
        ) from None


def tool_function(tool: Any) -> dict[str, Any]:
    """The function definition of a `tools` entry (OpenAI's wrapped form or a bare one)."""
    function = tool.get("function", tool) if isinstance(tool, dict) else None
    if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"].strip():
        return function
    raise ToolDefinitionError(
        f"a tool must be a function definition with a non-empty name, got {str(tool)[:120]}"
    )


def _arguments_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


@dataclass(frozen=True)
class AgentFormat:
    """ReAct English (ms-swift's `react_en`): the default `--tools_prompt`."""

    name: str = "react_en"
    response_in_turn: bool = True

    def system_prompt(self, tools: list[Any], system: str | None) -> str:
        functions = [tool_function(t) for t in tools]
        lines = [
            f"{f['name']}: Call this tool to interact with the {f['name']} API. "
            f"What is the {f['name']} API useful for? {f.get('description', '')} "
            f"Parameters: {json.dumps(f.get('parameters', {}), ensure_ascii=False)} "
            "Format the arguments as a JSON object."
            for f in functions
        ]
        names = ", ".join(f["name"] for f in functions)
        prompt = (
            "Answer the following questions as best you can. You have access to the following tools:\n\n"
            + "\n\n".join(lines)
            + "\n\nUse the following format:\n\n"
            "Question: the input question you must answer\n"
            "Thought: you should always think about what to do\n"
            f"Action: the action to take, should be one of [{names}]\n"
            "Action Input: the input to the action\n"
            "Observation: the result of the action\n"
            "... (this Thought/Action/Action Input/Observation can be repeated zero or more times)\n"
            "Thought: I now know the final answer\n"
            "Final Answer: the final answer to the original input question\n\n"
            "Begin!\n"
        )
        return f"{system}\n\n{prompt}" if system else prompt

    def call(self, content: str, previous: str) -> str:
        name, arguments = parse_call(content)
        lead = "\n" if previous and not previous.endswith("\n") else ""
        return f"{lead}Action: {name}\nAction Input: {_arguments_text(arguments)}\nObservation:"

    def response(self, content: str) -> str:
        return f" {content}\n"


@dataclass(frozen=True)
class HermesAgentFormat(AgentFormat):
    """Qwen 2.5 / Hermes style: `<tools>` in the system prompt, `<tool_call>` JSON in
    the reply, results in a user turn as `<tool_response>`."""

    name: str = "qwen"
    response_in_turn: bool = False

    def system_prompt(self, tools: list[Any], system: str | None) -> str:
        for tool in tools:
            tool_function(tool)  # each must have a name, though it is listed as given
        listing = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        prompt = (
            "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
            "You are provided with function signatures within <tools></tools> XML tags:\n"
            f"<tools>\n{listing}\n</tools>\n\n"
            "For each function call, return a json object with function name and arguments "
            "within <tool_call></tool_call> XML tags:\n<tool_call>\n"
            '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
        )
        return f"{system}\n\n{prompt}" if system else prompt

    def call(self, content: str, previous: str) -> str:
        name, arguments = parse_call(content)
        body = json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False)
        lead = "\n" if previous else ""
        return f"{lead}<tool_call>\n{body}\n</tool_call>"

    def response(self, content: str) -> str:
        return f"<tool_response>\n{content}\n</tool_response>"


AGENT_FORMATS: dict[str, AgentFormat] = {f.name: f for f in (AgentFormat(), HermesAgentFormat())}
AGENT_FORMATS["hermes"] = AGENT_FORMATS["qwen"]


def agent_format(name: str) -> AgentFormat:
    try:
        return AGENT_FORMATS[name]
    except KeyError:
        raise ArgumentError(
            f"--tools_prompt {name!r} is unknown; choose one of {', '.join(sorted(AGENT_FORMATS))}"
        ) from None
