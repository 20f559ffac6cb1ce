"""Bad lines and bad files: each named by file and line, dropped and counted or (strict) fatal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.arguments.groups import DataArguments
from tunekite.data import DatasetError, load_datasets, parse_dataset_syntax
from tunekite.data.file_lines import scan

datasets = pytest.importorskip("datasets")


def _qa(i: int) -> str:
    return json.dumps({"query": f"q{i}", "response": f"a{i}"})


def _lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def _load(*dataset: str, **kw) -> tuple:
    kw.setdefault("split_dataset_ratio", 0.0)
    return load_datasets(DataArguments(dataset=list(dataset), **kw))


def _queries(ds) -> list[str]:
    return [row["messages"][0]["content"] for row in ds]


BROKEN_THIRD_LINE = {
    "truncated": ('{"query": "q2", "resp', "not valid JSON"),
    "trailing garbage": (_qa(2) + " xyz", "not valid JSON"),
    "invalid UTF-8": (b'{"query": "q\xff\xfe", "response": "a2"}', "not UTF-8"),
    "not an object": ("[1, 2]", "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_THIRD_LINE))
def test_a_bad_jsonl_line_is_named_when_strict(tmp_path: Path, case: str) -> None:
    line, reason = BROKEN_THIRD_LINE[case]
    path = _lines(tmp_path / "bad.jsonl", [_qa(0), _qa(1), line, _qa(3)])
    with pytest.raises(DatasetError, match=rf"^{path}, line 3: {reason} \(.+\)\. Fix the line") as err:
        _load(str(path), strict=True)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", sorted(BROKEN_THIRD_LINE))
def test_a_bad_jsonl_line_is_dropped_and_counted_with_its_line(tmp_path: Path, case: str) -> None:
    line, reason = BROKEN_THIRD_LINE[case]
    path = _lines(tmp_path / "bad.jsonl", [_qa(0), _qa(1), line, _qa(3), _qa(4)])
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q1", "q3", "q4"]
    assert report.total == 1 and report.lines() == [f"{path}: 1 x {reason} (line 3)"]
    assert "(line 3)" in report.summary()


def test_rows_after_a_dropped_line_keep_their_own_line_numbers(tmp_path: Path) -> None:
    prompt_only = json.dumps({"query": "no answer"})
    path = _lines(tmp_path / "bad.jsonl", [_qa(0), "{oops", _qa(2), prompt_only])
    with pytest.raises(DatasetError, match=rf"^{path}, line 2: not valid JSON"):
        _load(str(path), strict=True)
    _, _, report = _load(str(path))
    assert report.lines() == [
        f"{path}: 1 x not valid JSON (line 2)",
        f"{path}: 1 x no final assistant turn (line 4)",
    ]


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    path = _lines(tmp_path / "gaps.jsonl", [_qa(0), "", "   ", _qa(1), json.dumps({"query": "q"})])
    assert scan(path).blank_lines and not scan(_lines(tmp_path / "ok.jsonl", [_qa(0)])).blank_lines
    with pytest.raises(DatasetError, match=rf"^{path}, line 5: no final assistant turn"):
        _load(str(path), strict=True)


def test_a_file_with_only_bad_lines_says_so(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", ["{", "}"])
    with pytest.raises(
        DatasetError, match=rf"^{path}: no line could be read as a row; line 1: not valid JSON"
    ):
        _load(str(path))


def test_a_json_lines_file_named_json_drops_its_bad_line(tmp_path: Path) -> None:
    path = _lines(tmp_path / "rows.json", [_qa(0), _qa(1), '{"query": ', _qa(3)])
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q1", "q3"] and report.lines() == [
        f"{path}: 1 x not valid JSON (line 3)"
    ]


def test_a_broken_json_document_is_named_by_line_even_without_strict(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"query": "q0", "response": "a0"},\n  {"query": "q1", "response": }\n]\n')
    with pytest.raises(DatasetError, match=rf"^{path}, line 3: not valid JSON \(Expecting value at column"):
        _load(str(path))


def test_a_csv_record_with_the_wrong_number_of_fields(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text('query,response\nq0,a0\nq1,a1,extra\n"q2\nstill q2",a2\nq3,a3\n')
    with pytest.raises(
        DatasetError, match=rf"^{path}, line 3: wrong number of fields \(3, the header has 2\)"
    ):
        _load(str(path), strict=True)
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q2\nstill q2", "q3"]
    assert report.lines() == [f"{path}: 1 x wrong number of fields (line 3)"]


def test_a_corrupt_parquet_file_is_one_line_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(DatasetError, match=rf"^could not read {path}: ") as err:
        _load(str(path))
    assert "\n" not in str(err.value).strip()


@pytest.mark.parametrize(
    ("name", "content"), [("e.jsonl", ""), ("e.jsonl", "\n  \n"), ("e.csv", ""), ("e.parquet", "")]
)
def test_an_empty_file_is_named(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DatasetError, match=rf"^{path} is empty: it holds no rows$"):
        _load(str(path))


def test_messages_given_as_a_string_must_be_a_list(tmp_path: Path) -> None:
    path = _lines(tmp_path / "m.jsonl", [json.dumps({"messages": "hello there"}), _qa(1)])
    with pytest.raises(
        DatasetError, match=r"line 1: bad messages \(messages must be a list of \{role, content\}"
    ):
        _load(str(path), strict=True)


@pytest.mark.parametrize("count", ["-5", "0", "abc", ""])
def test_a_bad_sample_count_names_the_value_not_a_missing_file(qa_file: Path, count: str) -> None:
    with pytest.raises(DatasetError, match=rf"the sample size after '#' must be .* got '{count}'"):
        parse_dataset_syntax(f"{qa_file}#{count}")
    assert parse_dataset_syntax(f"{qa_file}#3").sample == 3


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    return _lines(tmp_path / "good.jsonl", [_qa(i) for i in range(4)])


TOOLLESS = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    "tools": [{"type": "function", "function": {"description": "has no name"}}],
}


def test_a_tool_without_a_name_is_a_bad_row(tmp_path: Path) -> None:
    path = _lines(tmp_path / "tools.jsonl", [_qa(0), json.dumps(TOOLLESS), _qa(2)])
    with pytest.raises(
        DatasetError, match=r"tools.jsonl, line 2: bad tools \(tool 1: a tool must be a function"
    ):
        _load(str(path), strict=True)
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q2"] and report.lines() == [f"{path}: 1 x bad tools (line 2)"]


def test_a_failed_split_says_first_what_was_dropped_and_why(tmp_path: Path) -> None:
    rows = [_qa(0)] + [json.dumps({"query": f"q{i}"}) for i in (1, 2, 3)]
    path = _lines(tmp_path / "few.jsonl", rows)
    with pytest.raises(DatasetError) as err:
        _load(str(path), split_dataset_ratio=0.01)
    message = str(err.value)
    assert message.startswith(
        f"--dataset {path}: dropped {path}: 3 x no final assistant turn (line 2, line 3, line 4). "
        "So: only 1 row"
    )
    assert "--split_dataset_ratio 0" in message


def test_rows_dropped_before_the_split_are_never_held_out(tmp_path: Path) -> None:
    path = _lines(tmp_path / "rows.jsonl", [_qa(i) for i in range(4)])

    def drop_q2(rows, text):
        assert text == str(path)
        return rows.filter(lambda row: row["messages"][0]["content"] != "q2")

    for seed in range(6):
        train, val, _ = load_datasets(
            DataArguments(dataset=[str(path)], split_dataset_ratio=0.3, data_seed=seed), before_split=drop_q2
        )
        assert len(val) == 1 and sorted(_queries(train) + _queries(val)) == ["q0", "q1", "q3"]


def test_a_stream_fails_at_a_bad_line_naming_it(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", [_qa(0), "{", _qa(2)])
    with pytest.raises(DatasetError, match=rf"^{path}, line 2: not valid JSON .*--streaming cannot skip"):
        train, _, _ = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
        list(train)


def test_a_stream_of_a_file_that_is_not_utf8_drops_the_line(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", [_qa(0), b'{"query": "\xff"}', _qa(2)])
    train, _, report = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
    assert _queries(train) == ["q0", "q2"] and report.lines() == [f"{path}: 1 x not UTF-8 (line 2)"]


def test_a_good_stream_reads_every_row(tmp_path: Path) -> None:
    path = _lines(tmp_path / "good.jsonl", [_qa(i) for i in range(5)])
    train, _, _ = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
    assert _queries(train) == ["q0", "q1", "q2", "q3", "q4"]
