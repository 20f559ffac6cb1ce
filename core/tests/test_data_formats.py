"""Every recognised row format becomes the canonical conversation row."""

from __future__ import annotations

import json

import pytest

from tunekite.data import CANONICAL_KEYS, RowError, to_conversation, validate_conversation


def _msgs(*pairs: tuple[str, str]) -> list[dict]:
    return [{"role": r, "content": c} for r, c in pairs]


def test_openai_messages_with_tool_calls_and_tools() -> None:
    row = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": None},
            {"role": "assistant", "content": "Sunny."},
        ],
        "tools": json.dumps([{"type": "function", "function": {"name": "weather", "parameters": {}}}]),
        "solution": "sunny",
    }
    out = to_conversation(row)
    assert [m["role"] for m in out["messages"]] == [
        "system",
        "user",
        "tool_call",
        "tool_response",
        "assistant",
    ]
    assert json.loads(out["messages"][2]["content"]) == {"name": "weather", "arguments": {"city": "Paris"}}
    assert json.loads(out["tools"])[0]["function"]["name"] == "weather"
    assert out["solution"] == "sunny"
    assert out["rejected_response"] is None and out["label"] is None


def test_assistant_text_before_its_tool_calls_is_kept() -> None:
    row = {
        "messages": [
            {"role": "user", "content": "q"},
            {
                "role": "assistant",
                "content": "Let me look.",
                "tool_calls": [{"function": {"name": "f", "arguments": {"x": None, "y": 1}}}],
            },
        ]
    }
    roles = [(m["role"], m["content"]) for m in to_conversation(row)["messages"]]
    assert roles[1] == ("assistant", "Let me look.")
    assert roles[2] == ("tool_call", '{"name": "f", "arguments": {"y": 1}}')


def test_swift_tools_list_and_tool_call_roles() -> None:
    row = {
        "tools": [{"name": "f", "description": "d", "parameters": None}],
        "messages": _msgs(
            ("user", "go"),
            ("tool_call", '{"name": "f", "arguments": "{}"}'),
            ("tool_response", "ok"),
            ("assistant", "done"),
        ),
    }
    out = to_conversation(row)
    assert json.loads(out["tools"]) == [{"name": "f", "description": "d"}]
    assert out["messages"][1]["content"] == '{"name": "f", "arguments": {}}'


def test_sharegpt_roles_and_system_column() -> None:
    row = {
        "system": "sys",
        "conversations": [
            {"from": "human", "value": "hi"},
            {"from": "function_call", "value": '{"name": "f", "arguments": {"a": 1}}'},
            {"from": "observation", "value": "r"},
            {"from": "gpt", "value": "bye"},
        ],
    }
    out = to_conversation(row)
    assert [m["role"] for m in out["messages"]] == [
        "system",
        "user",
        "tool_call",
        "tool_response",
        "assistant",
    ]


def test_sharegpt_with_role_content_dicts_and_preference() -> None:
    row = {
        "conversations": [{"role": "user", "content": "q"}],
        "chosen": {"from": "gpt", "value": "good"},
        "rejected": {"from": "gpt", "value": "bad"},
    }
    out = to_conversation(row)
    assert out["messages"][-1] == {"role": "assistant", "content": "good"}
    assert out["rejected_response"] == "bad"


def test_alpaca_with_history_and_system() -> None:
    row = {
        "instruction": "Translate",
        "input": "chat",
        "output": "cat",
        "system": "s",
        "history": [["q0", "a0"]],
    }
    assert to_conversation(row)["messages"] == _msgs(
        ("system", "s"),
        ("user", "q0"),
        ("assistant", "a0"),
        ("user", "Translate\nchat"),
        ("assistant", "cat"),
    )
    assert (
        to_conversation({"instruction": "Hi", "input": "", "output": "yo"})["messages"][0]["content"] == "Hi"
    )


def test_query_response_history() -> None:
    out = to_conversation({"query": "q", "response": "r", "history": [["a", "b"]], "system": None})
    assert out["messages"] == _msgs(("user", "a"), ("assistant", "b"), ("user", "q"), ("assistant", "r"))


def test_plain_text_is_one_assistant_turn() -> None:
    assert to_conversation({"text": "once upon"})["messages"] == _msgs(("assistant", "once upon"))


def test_preference_strings_with_prompt_or_query() -> None:
    for key in ("prompt", "query"):
        out = to_conversation({key: "q", "chosen": "good", "rejected": "bad"})
        assert out["messages"] == _msgs(("user", "q"), ("assistant", "good"))
        assert out["rejected_response"] == "bad"


def test_preference_trl_message_lists() -> None:
    implicit = {
        "chosen": _msgs(("user", "q"), ("assistant", "good")),
        "rejected": _msgs(("user", "q"), ("assistant", "bad")),
    }
    explicit = {
        "prompt": _msgs(("system", "s"), ("user", "q")),
        "chosen": _msgs(("assistant", "good")),
        "rejected": _msgs(("assistant", "bad")),
    }
    assert to_conversation(implicit)["rejected_response"] == "bad"
    out = to_conversation(explicit)
    assert out["messages"] == _msgs(("system", "s"), ("user", "q"), ("assistant", "good"))
    assert out["rejected_response"] == "bad"


def test_messages_with_rejected_response() -> None:
    out = to_conversation({"messages": _msgs(("user", "q"), ("assistant", "a")), "rejected_response": "no"})
    assert out["rejected_response"] == "no"


def test_kto_labels() -> None:
    assert (
        to_conversation({"messages": _msgs(("user", "q"), ("assistant", "a")), "label": 1})["label"] is True
    )
    out = to_conversation({"prompt": "q", "completion": "a", "label": False})
    assert out["messages"] == _msgs(("user", "q"), ("assistant", "a"))
    assert out["label"] is False
    trl = {"prompt": _msgs(("user", "q")), "completion": _msgs(("assistant", "a")), "label": True}
    assert to_conversation(trl)["label"] is True


def test_prompt_completion() -> None:
    assert to_conversation({"prompt": "2+2=", "completion": "4"})["messages"][-1]["content"] == "4"


def test_every_row_has_all_canonical_keys() -> None:
    out = to_conversation({"text": "t"})
    assert all(k in out for k in CANONICAL_KEYS)
    validate_conversation(out)


def test_content_parts_are_joined() -> None:
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
            {"role": "assistant", "content": "c"},
        ]
    }
    assert to_conversation(row)["messages"][0]["content"] == "ab"


def test_prompt_only_rows_are_kept_when_no_response_is_required() -> None:
    row = {"messages": _msgs(("user", "solve")), "solution": "4"}
    with pytest.raises(RowError, match="no final assistant turn"):
        to_conversation(row)
    assert to_conversation(row, require_response=False)["solution"] == "4"


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"foo": 1}, "no recognised format"),
        ({"messages": _msgs(("user", "q"), ("assistant", " "))}, "empty assistant turn"),
        (
            {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]},
            "empty assistant turn",
        ),
        ({"messages": _msgs(("user", "q"), ("system", "s"), ("assistant", "a"))}, "misplaced system message"),
        ({"messages": _msgs(("wizard", "q"), ("assistant", "a"))}, "unknown role"),
        ({"messages": _msgs(("user", "q"), ("tool_call", "not json"))}, "tool call is not valid JSON"),
        ({"messages": _msgs(("user", "q"), ("tool_call", '{"arguments": {}}'))}, "bad tool call"),
        ({"messages": _msgs(("user", "q"), ("assistant", "a")), "label": "maybe"}, "bad label"),
        ({"chosen": "a", "rejected": "b"}, "no prompt"),
        ({"prompt": "q", "chosen": "a", "rejected": ""}, "empty rejected response"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "non-text content"),
        ({"text": ""}, "empty assistant turn"),
    ],
)
def test_bad_rows_name_their_reason(row: dict, reason: str) -> None:
    with pytest.raises(RowError) as err:
        to_conversation(row)
    assert err.value.reason == reason
