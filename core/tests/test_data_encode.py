"""Datasets through a template: eager (1 and 2 processes), streaming and lazy encoding."""

from __future__ import annotations

import logging

import datasets
import pytest

from tunekite.arguments.groups import TemplateArguments
from tunekite.data.encode import ORIGIN_COLUMN, SAMPLE_COLUMNS, LazyEncodedDataset, encode_dataset
from tunekite.templates.agent import ToolDefinitionError, agent_format
from tunekite.templates.encoder import Template, TemplateError
from tunekite.templates.format import ChatFormat
from tunekite.testing import tiny_tokenizer

CHAT = ChatFormat(
    name="test-chat",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)


def row(question: str, answer: str) -> dict:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return {"messages": messages, "tools": None, "rejected_response": None, "label": None}


ROWS = [row(f"question {i}", "short" if i % 3 else "a much longer answer " * 6) for i in range(30)]


@pytest.fixture(scope="module")
def template():
    tokenizer = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    return Template.create(CHAT, tokenizer, TemplateArguments(max_length=60))


def test_eager_encoding_drops_overlong_rows_and_counts_them(template):
    encoded, dropped = encode_dataset(datasets.Dataset.from_list(ROWS), template)
    expected = [template.encode(r) for r in ROWS]
    assert dropped == sum(e is None for e in expected) == 10
    assert encoded.column_names == list(SAMPLE_COLUMNS)
    assert encoded["input_ids"] == [e["input_ids"] for e in expected if e is not None]


@pytest.mark.parametrize("strategy", ["delete", "left", "right"])
def test_the_written_columns_are_the_samples_encode_gives(template, strategy):
    """Arrow columns come from flat arrays, samples from per-row lists: the same values, each
    truncation strategy cutting rows at the same tokens."""
    truncating = template.with_options(truncation_strategy=strategy)
    encoded, _ = encode_dataset(datasets.Dataset.from_list(ROWS), truncating, batch_size=7)
    expected = [e for e in truncating.encode_batch(ROWS) if e is not None]
    assert encoded.to_list() == expected
    assert len(expected) == (20 if strategy == "delete" else 30)
    assert (max(e["length"] for e in expected) == 60) == (strategy != "delete")


def test_two_processes_give_the_same_samples(template):
    one, _ = encode_dataset(datasets.Dataset.from_list(ROWS), template, num_proc=1)
    two, _ = encode_dataset(datasets.Dataset.from_list(ROWS), template, num_proc=2, batch_size=4)
    assert one["input_ids"] == two["input_ids"] and one["labels"] == two["labels"]


def test_streaming_encodes_as_it_reads(template):
    stream = datasets.Dataset.from_list(ROWS).to_iterable_dataset()
    encoded, dropped = encode_dataset(stream, template)
    assert isinstance(encoded, datasets.IterableDataset) and dropped == -1
    samples = list(encoded)
    assert len(samples) == 20 and set(samples[0]) == set(SAMPLE_COLUMNS)


BAD_CALL = {**ROWS[5], "messages": [{"role": "user", "content": "x"}, {"role": "tool_call", "content": "?"}]}


def test_a_bad_row_without_an_origin_is_named_by_its_position(template):
    with pytest.raises(TemplateError, match="dataset row 6: tool_call content must be JSON"):
        encode_dataset(datasets.Dataset.from_list([*ROWS[:5], BAD_CALL]), template)


def test_a_bad_row_is_named_by_its_file_and_line(template):
    rows = [{**r, ORIGIN_COLUMN: f"data.jsonl, line {i + 2}"} for i, r in enumerate([*ROWS[:5], BAD_CALL])]
    with pytest.raises(TemplateError, match=r"^data.jsonl, line 7: tool_call content must be JSON"):
        encode_dataset(datasets.Dataset.from_list(rows), template)
    with pytest.raises(TemplateError, match=r"^data.jsonl, line 7: tool_call content"):
        LazyEncodedDataset(rows, template)[5]


def test_a_tool_without_a_name_is_a_named_template_error(template):
    tools = '[{"type": "function", "function": {"description": "no name"}}]'
    rows = [{**ROWS[1], "tools": tools, ORIGIN_COLUMN: "data.jsonl, line 4"}]
    with pytest.raises(TemplateError, match=r"^data.jsonl, line 4: a tool must be a function definition"):
        encode_dataset(datasets.Dataset.from_list(rows), template)


def test_lazy_encoding_replaces_dropped_rows_and_logs(template, caplog):
    lazy = LazyEncodedDataset(ROWS, template)
    assert len(lazy) == len(ROWS)
    with caplog.at_level(logging.WARNING):
        sample = lazy[0]  # row 0 is over-long: row 1 stands in for it
    assert sample == template.encode(ROWS[1])
    assert lazy.dropped == {0} and "dataset row 1 is longer than max_length=60" in caplog.text


@pytest.mark.parametrize("name", ["react_en", "qwen"])
@pytest.mark.parametrize(
    "tool", [{"description": "x"}, {"type": "function", "function": {"name": " "}}, "search"]
)
def test_every_agent_format_rejects_a_tool_without_a_name(name, tool):
    with pytest.raises(
        ToolDefinitionError, match="a tool must be a function definition with a non-empty name"
    ):
        agent_format(name).system_prompt([tool], None)
    named = {"type": "function", "function": {"name": "search", "description": "find"}}
    assert "search" in agent_format(name).system_prompt([named], None)
