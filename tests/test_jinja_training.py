"""Training through a tokenizer's own chat template when no registered template matches:
`tk run sft` on a tiny model whose chat template is an unusual but valid format trains
exactly each reply plus its end-of-turn marker, and says which path it took."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import start
from tunekite.testing import tiny_causal_lm
from tunekite.testing.tokenizers import tiny_tokenizer

# A format no registered template knows: numbered questions, replies fenced by a marker.
ODD_TEMPLATE = (
    "{% for m in messages %}"
    "{% if m['role'] == 'system' %}<<sys>>{{ m['content'] }}<</sys>>\n"
    "{% elif m['role'] == 'user' %}>>> Q{{ loop.index }}: {{ m['content'] }}\n"
    "{% else %}<<< {{ m['content'] }} <|stop|>\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<<< {% endif %}"
)

ROWS = [
    {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": f"what is {i} plus {i}?"},
            {"role": "assistant", "content": f"{2 * i}."},
            {"role": "user", "content": "and doubled?"},
            {"role": "assistant", "content": f"It is {4 * i}."},
        ]
    }
    for i in range(8)
]


@pytest.fixture(scope="module")
def odd_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("odd") / "odd-chat"
    tokenizer = tiny_tokenizer(ODD_TEMPLATE, ("<|stop|>",), eos_token="<|stop|>")
    tiny_causal_lm(0, vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_sft_falls_back_to_the_chat_template_and_trains_only_the_replies(
    odd_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    import tunekite.data.prepare as prepare

    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    seen = {}
    real = prepare.prepare_datasets

    def spy(run, template):  # the real preparation; the test keeps what the trainer got
        seen["train"], val = real(run, template)
        seen["template"] = template
        return seen["train"], val

    monkeypatch.setattr(prepare, "prepare_datasets", spy)
    start("sft", [
        "--model", str(odd_model), "--tuner", "full", "--dataset", str(data), "--output_dir",
        str(tmp_path / "out"), "--add_version", "false", "--report_to", "none", "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false", "--max_steps", "2", "--per_device_train_batch_size", "2",
        "--save_strategy", "no",
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert "template: jinja (no installed template matches" in " ".join(err.split())
    assert "encoding through the tokenizer's own chat template" in " ".join(err.split())
    tokenizer = seen["template"].tokenizer
    for row, sample in zip(ROWS, seen["train"], strict=True):
        trained = [t for t, label in zip(sample["input_ids"], sample["labels"], strict=True) if label != -100]
        replies = [m["content"] for m in row["messages"] if m["role"] == "assistant"]
        # a reply's first token may carry the header's trailing space (" 10" is one BPE token)
        decoded = tokenizer.decode(trained, skip_special_tokens=False).lstrip()
        assert decoded == "".join(f"{r} <|stop|>" for r in replies)
        text = tokenizer.apply_chat_template(row["messages"], tokenize=False)
        assert sample["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_jinja_backend_refuses_a_template_that_writes_no_end_of_turn(odd_model: Path) -> None:
    from tunekite.templates.encoder import Template, TemplateError
    from tunekite.templates.jinja import jinja_format

    silent = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{% endfor %}"
    tokenizer = tiny_tokenizer(silent)
    template = Template.create(jinja_format(tokenizer), tokenizer, backend="jinja")
    conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    with pytest.raises(TemplateError, match=r"reply 1 \(message 1\): .*no end-of-turn marker"):
        template.encode({"messages": conversation})


def test_check_template_reports_the_labels_of_the_jinja_path(odd_model: Path) -> None:
    from tests.conftest import run_tk

    result = run_tk("check", "template", "--model", str(odd_model))
    out = " ".join(result.stdout.split())
    assert result.returncode == 0, result.stderr
    assert "trained: 'Blue. <|stop|> {Green}. <|stop|>'" in out
    assert "template 'jinja' matches the tokenizer's chat template" in out


def test_jinja_backend_trains_tool_calls_and_replies_of_a_tool_using_template() -> None:
    """Qwen2.5's own template with tools: the tool call and the final reply are trained,
    with their `<|im_end|>`; the tool schema, query and tool result are not."""
    from tests.test_template_detection import _plugin_tests
    from tunekite.templates.encoder import Template
    from tunekite.templates.jinja import jinja_format

    qwen = _plugin_tests("qwen")
    tokenizer = tiny_tokenizer(qwen.QWEN2_5, qwen.SPECIALS, eos_token="<|im_end|>")
    template = Template.create(jinja_format(tokenizer), tokenizer, backend="jinja")
    call = {"name": "add", "arguments": {"a": 1, "b": 2}}
    tools = [{"type": "function", "function": {"name": "add", "description": "adds", "parameters": {}}}]
    messages = [
        {"role": "user", "content": "add 1 and 2"},
        {"role": "tool_call", "content": json.dumps(call)},
        {"role": "tool_response", "content": "3"},
        {"role": "assistant", "content": "It is 3."},
    ]
    encoded = template.encode({"messages": messages, "tools": tools})
    pairs = zip(encoded["input_ids"], encoded["labels"], strict=True)
    trained = tokenizer.decode([t for t, label in pairs if label != -100], skip_special_tokens=False)
    assert trained == f"<tool_call>\n{json.dumps(call)}\n</tool_call><|im_end|>It is 3.<|im_end|>"
    text = tokenizer.apply_chat_template(
        [
            messages[0],
            {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
            {"role": "tool", "content": "3"},
            messages[3],
        ],
        tools=tools,
        tokenize=False,
    )
    assert encoded["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]


def test_a_history_rewriting_template_stops_the_run_naming_row_and_reply(tmp_path: Path) -> None:
    """Qwen3's template drops earlier replies' thinking: `--template_backend jinja` cannot
    train a multi-turn row through it, and says so in one line, before any training."""
    from tests.conftest import run_tk
    from tests.test_template_detection import _plugin_tests

    qwen = _plugin_tests("qwen")
    folder = tmp_path / "qwen3-chat"
    tokenizer = tiny_tokenizer(qwen.QWEN3, qwen.SPECIALS, eos_token="<|im_end|>")
    tiny_causal_lm(0, vocab_size=len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2]), encoding="utf-8")
    result = run_tk(
        "run", "sft", "--model", str(folder), "--template_backend", "jinja", "--tuner", "full",
        "--dataset", str(data), "--output_dir", str(tmp_path / "out"), "--report_to", "none",
        "--split_dataset_ratio", "0", "--max_steps", "1",
    )  # fmt: skip
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    error = " ".join(result.stderr.split())
    assert f"{data}, line 1: --template_backend jinja: reply 1 (message 2)" in error, error
    assert "rewrites history" in error
