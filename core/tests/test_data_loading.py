"""Loading `--dataset` values: syntax, files, registered names, sampling, splits, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import pytest

from tunekite import hookimpl
from tunekite.arguments.groups import DataArguments
from tunekite.data import (
    DatasetError,
    check_streaming,
    load_datasets,
    parse_dataset_syntax,
    validate_conversation,
)
from tunekite.data.file_lines import csv_records, scan
from tunekite.errors import ArgumentError, UnknownNameError
from tunekite.plugin_host import get_host
from tunekite.registrations import DatasetSpec


def _qa(i: int) -> dict:
    return {"query": f"q{i}", "response": f"a{i}"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _load(*dataset: str, **kw) -> tuple:
    kw.setdefault("split_dataset_ratio", 0.0)
    return load_datasets(DataArguments(dataset=list(dataset), **kw), host=get_host())


def _queries(ds) -> list[str]:
    return [row["messages"][0]["content"] for row in ds]


@pytest.fixture
def qa10(tmp_path: Path) -> Path:
    return _jsonl(tmp_path / "qa.jsonl", [_qa(i) for i in range(10)])


# --- syntax -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "subsets", "sample"),
    [
        ("alpaca", "alpaca", (), None),
        ("org/name:v1/v2#500", "org/name", ("v1", "v2"), 500),
        ("org/name:all", "org/name", ("all",), None),
        ("data/x.jsonl#20", "data/x.jsonl", (), 20),
    ],
)
def test_syntax(text: str, name: str, subsets: tuple, sample: int | None) -> None:
    parsed = parse_dataset_syntax(text)
    assert (parsed.name, parsed.subsets, parsed.sample) == (name, subsets, sample)


def test_existing_path_with_colon_is_a_path(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "a:b.jsonl", [_qa(0)])
    assert parse_dataset_syntax(str(path)).name == str(path)
    assert parse_dataset_syntax(f"{path}#3").sample == 3
    train, _, _ = _load(f"{path}#3")
    assert len(train) == 3


# --- file types -------------------------------------------------------------------------------


def test_jsonl_json_csv_parquet_and_folder(tmp_path: Path) -> None:
    import pandas as pd

    folder = tmp_path / "data"
    (folder / "sub").mkdir(parents=True)
    _jsonl(folder / "a.jsonl", [_qa(0), _qa(1)])
    (folder / "b.json").write_text(json.dumps([_qa(2)]))
    pd.DataFrame([{"instruction": "q3", "input": "", "output": "a3"}]).to_csv(folder / "c.csv", index=False)
    pd.DataFrame([{"text": "q4"}]).to_parquet(folder / "sub" / "d.parquet")
    (folder / "notes.txt").write_text("ignored")
    for file, expected in [("a.jsonl", 2), ("b.json", 1), ("c.csv", 1), ("sub/d.parquet", 1)]:
        train, _, _ = _load(str(folder / file))
        assert len(train) == expected, file
    train, val, dropped = _load(str(folder))
    assert sorted(_queries(train)) == ["q0", "q1", "q2", "q3", "q4"]
    assert val is None and dropped.total == 0
    for row in train:
        validate_conversation(row)


def test_files_with_different_extra_columns_concatenate(tmp_path: Path) -> None:
    a = _jsonl(tmp_path / "a.jsonl", [{**_qa(0), "solution": "x"}])
    b = _jsonl(tmp_path / "b.jsonl", [_qa(1)])
    train, _, _ = _load(str(a), str(b))
    assert [r["solution"] for r in train] == ["x", None]


def test_arrow_schema_is_canonical(qa10: Path) -> None:
    train, _, _ = _load(str(qa10))
    assert {"messages", "tools", "rejected_response", "label"} <= set(train.column_names)
    assert train.features["tools"].dtype == "string" and train.features["label"].dtype == "bool"


# --- sampling ---------------------------------------------------------------------------------


def test_sample_below_size_is_without_replacement_and_seeded(qa10: Path) -> None:
    first = _queries(_load(f"{qa10}#4", data_seed=1)[0])
    assert len(first) == 4 and len(set(first)) == 4
    assert first == _queries(_load(f"{qa10}#4", data_seed=1)[0])
    others = {tuple(_queries(_load(f"{qa10}#4", data_seed=s)[0])) for s in range(2, 6)}
    assert others - {tuple(first)}


def test_sample_above_size_repeats_then_tops_up(qa10: Path) -> None:
    rows = _queries(_load(f"{qa10}#25", data_seed=3)[0])
    assert len(rows) == 25
    counts = {q: rows.count(q) for q in set(rows)}
    assert set(counts.values()) == {2, 3} and sum(v == 3 for v in counts.values()) == 5
    assert rows == _queries(_load(f"{qa10}#25", data_seed=3)[0])


# --- registered datasets and subsets ----------------------------------------------------------


class _Animals:
    calls: ClassVar[list] = []

    @staticmethod
    def load(subsets: tuple[str, ...], data_args: DataArguments) -> list[dict]:
        _Animals.calls.append((subsets, data_args.model_name))
        return [{"query": f"{s}?", "response": s} for s in subsets for _ in range(3)]

    @hookimpl
    def tk_register_datasets(self, register) -> None:
        register(
            DatasetSpec(name="animals", summary="test rows", subsets=("cat", "dog"), factory=_Animals.load)
        )


@pytest.fixture
def animals(tk_plugins):
    _Animals.calls = []
    tk_plugins.add(_Animals(), name="animals")
    return _Animals


def test_registered_dataset_gets_subsets_and_data_args(animals) -> None:
    assert len(_load("animals", model_name=["K"])[0]) == 6
    assert len(_load("animals:all")[0]) == 6
    assert len(_load("animals:dog")[0]) == 3
    assert len(_load("animals:cat/dog#2")[0]) == 2
    assert animals.calls[0] == (("cat", "dog"), ["K"])
    assert animals.calls[2][0] == ("dog",)


def test_unknown_subset_and_unknown_name(animals) -> None:
    with pytest.raises(DatasetError, match=r"no subset 'cow'; its subsets: cat, dog"):
        _load("animals:cow")
    with pytest.raises(UnknownNameError, match=r"animls.*Did you mean 'animals'.*no file or folder"):
        _load("animls")


# --- columns, strictness ----------------------------------------------------------------------


def test_columns_rename_before_detection(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "t.jsonl", [{"text1": "q", "text2": "a"}])
    train, _, _ = _load(str(path), columns={"text1": "query", "text2": "response"})
    assert train[0]["messages"] == [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]


def _bad_file(tmp_path: Path) -> Path:
    rows = [_qa(0), {"foo": 1}, _qa(2), {"query": "q", "response": ""}, {"bar": 2}, _qa(5)]
    return _jsonl(tmp_path / "mixed.jsonl", rows)


def test_strict_names_file_line_and_reason(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    with pytest.raises(DatasetError) as err:
        _load(str(path), strict=True)
    assert str(path) in str(err.value) and "line 2" in str(err.value)
    assert "no recognised format" in str(err.value)


def test_non_strict_drops_and_counts(tmp_path: Path, caplog) -> None:
    path = _bad_file(tmp_path)
    with caplog.at_level("WARNING", logger="tunekite.data"):
        train, _, dropped = _load(str(path))
    assert len(train) == 3
    assert dropped.counts == {"no recognised format": 2, "empty assistant turn": 1}
    assert dropped.by_source[str(path)]["no recognised format"] == 2
    assert "Dropped 3 malformed" in caplog.text and "empty assistant turn" in caplog.text


def test_origin_column_names_each_kept_rows_file_and_line(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    other = _jsonl(tmp_path / "more.jsonl", [_qa(7)])
    data = DataArguments(dataset=[str(path), str(other)], split_dataset_ratio=0.0)
    train, _, _ = load_datasets(data, origin_column="where")
    # Bad lines 2, 4 and 5 are dropped; the kept rows keep their own line numbers.
    assert train["where"] == [f"{path}, line {n}" for n in (1, 3, 6)] + [f"{other}, line 1"]


def test_all_rows_dropped_is_an_error(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "bad.jsonl", [{"foo": 1}])
    with pytest.raises(DatasetError, match="every row was dropped"):
        _load(str(path))


def test_several_workers(tmp_path: Path) -> None:
    path = _bad_file(tmp_path)
    train, _, dropped = _load(str(path), dataset_num_proc=2)
    assert len(train) == 3 and dropped.total == 3


# --- validation data --------------------------------------------------------------------------


def test_split_ratio_is_seeded_and_disjoint(tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "qa.jsonl", [_qa(i) for i in range(100)])
    train, val, _ = _load(str(path), split_dataset_ratio=0.1, data_seed=7)
    assert (len(train), len(val)) == (90, 10)
    assert not set(_queries(train)) & set(_queries(val))
    assert _queries(val) == _queries(_load(str(path), split_dataset_ratio=0.1, data_seed=7)[1])
    assert len(_load(str(path), split_dataset_ratio=0.001)[1]) == 1
    with pytest.raises(ArgumentError, match="split_dataset_ratio"):
        _load(str(path), split_dataset_ratio=1.0)


def test_default_ratio_and_val_dataset(qa10: Path, tmp_path: Path) -> None:
    train, val, _ = load_datasets(DataArguments(dataset=[str(qa10)]))
    assert (len(train), len(val)) == (9, 1)
    other = _jsonl(tmp_path / "val.jsonl", [_qa(i) for i in range(100, 103)])
    train, val, _ = load_datasets(DataArguments(dataset=[str(qa10)], val_dataset=[f"{other}#2"]))
    assert len(train) == 10 and len(val) == 2


# --- streaming --------------------------------------------------------------------------------


def test_streaming_yields_canonical_rows(tmp_path: Path) -> None:
    from datasets import IterableDataset

    path = _bad_file(tmp_path)
    train, val, dropped = _load(str(path), streaming=True, split_dataset_ratio=0.5)
    assert isinstance(train, IterableDataset) and val is None
    rows = list(train)
    assert _queries(rows) == ["q0", "q2", "q5"]
    for row in rows:
        validate_conversation(row)
    assert dropped.total == 3
    strict, _, _ = _load(str(path), streaming=True, strict=True)
    with pytest.raises(DatasetError, match=r"mixed.jsonl, line 2: no recognised format"):
        list(strict)
    assert len(list(_load(f"{path}#2", streaming=True)[0])) == 2


def test_streaming_needs_max_steps(qa10: Path) -> None:
    args = DataArguments(dataset=[str(qa10)], streaming=True)
    with pytest.raises(ArgumentError, match="--max_steps"):
        check_streaming(args, -1)
    with pytest.raises(ArgumentError, match="--max_steps"):
        load_datasets(args, max_steps=0)
    check_streaming(args, 10)
    check_streaming(DataArguments(), -1)


# --- custom_dataset_info ----------------------------------------------------------------------


def test_custom_dataset_info_registers_names(tmp_path: Path) -> None:
    (tmp_path / "files").mkdir()
    _jsonl(tmp_path / "files" / "p.jsonl", [{"problem": f"p{i}", "answer": f"s{i}"} for i in range(4)])
    info = tmp_path / "dataset_info.json"
    info.write_text(
        json.dumps(
            [
                {
                    "dataset_name": "mine",
                    "dataset_path": "files/p.jsonl",
                    "columns": {"problem": "query", "answer": "response"},
                },
                {"ms_dataset_id": "org/only-ms"},
            ]
        )
    )
    train, _, _ = _load("mine#2", custom_dataset_info=[str(info)])
    assert len(train) == 2 and train[0]["messages"][1]["content"].startswith("s")
    train, _, _ = _load("files/p.jsonl", custom_dataset_info=[str(info)])
    assert len(train) == 4
    with pytest.raises(DatasetError, match="ms_dataset_id"):
        _load("org/only-ms", custom_dataset_info=[str(info)])


def test_bad_custom_dataset_info(tmp_path: Path) -> None:
    info = tmp_path / "bad.json"
    info.write_text(json.dumps([{"columns": {}}]))
    with pytest.raises(DatasetError, match=r"bad.json, entry 1: an entry needs one of"):
        _load("x", custom_dataset_info=[str(info)])
    with pytest.raises(DatasetError, match="file not found"):
        _load("x", custom_dataset_info=[str(tmp_path / "nope.json")])


# --- errors -----------------------------------------------------------------------------------


def test_hub_id_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DatasetError) as err:
        _load("some-org/some-dataset:default#10")
    assert "some-org/some-dataset" in str(err.value)
    assert "unreachable" in str(err.value) and "local path" in str(err.value)


def test_missing_file_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    with pytest.raises(DatasetError, match=f"not found: {missing}"):
        _load(str(missing))
    with pytest.raises(DatasetError, match="not found"):
        _load("./data/absent.csv#5")


def test_local_path_with_subset_and_empty_folder(qa10: Path, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no subsets"):
        _load(f"{qa10}:zh")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="holds no"):
        _load(str(tmp_path / "empty"))


def test_no_dataset_is_an_argument_error() -> None:
    with pytest.raises(ArgumentError, match="--dataset"):
        load_datasets(DataArguments())


def test_hub_failure_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    def refuse(*args, **kwargs):
        raise ConnectionError("no route to host")

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DatasetError, match=r"'org/data' is a hub id, but the hub is unreachable.*no route"):
        _load("org/data")


def test_hub_entry_of_custom_dataset_info(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    calls = []

    def fake(repo, subset, *, split, streaming, download_mode):
        calls.append((repo, subset, split, download_mode))
        return datasets.Dataset.from_list([{"problem": f"{subset}-{split}", "answer": "a"}])

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setattr(datasets, "load_dataset", fake)
    info = tmp_path / "info.json"
    hard = {"subset": "hard", "split": ["train", "test"], "columns": {"answer": "response"}}
    columns = {"answer": "response", "problem": "query"}
    entry = {"hf_dataset_id": "org/math", "columns": columns, "subsets": ["easy", hard]}
    info.write_text(json.dumps([entry]))
    train, _, dropped = _load("org/math", custom_dataset_info=[str(info)], download_mode="force_redownload")
    assert _queries(train) == ["easy-train", "hard-train", "hard-test"]
    assert dropped.total == 0
    assert calls == [
        ("org/math", "easy", "train", "force_redownload"),
        ("org/math", "hard", "train", "force_redownload"),
        ("org/math", "hard", "test", "force_redownload"),
    ]


# --- bad lines and bad files: named by file and line, dropped and counted or (strict) fatal ------


def _line(i: int) -> str:
    return json.dumps(_qa(i))


def _lines(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


BROKEN_THIRD_LINE = {
    "truncated": ('{"query": "q2", "resp', "not valid JSON"),
    "trailing garbage": (_line(2) + " xyz", "not valid JSON"),
    "invalid UTF-8": (b'{"query": "q\xff\xfe", "response": "a2"}', "not UTF-8"),
    "not an object": ("[1, 2]", "not a JSON object"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_THIRD_LINE))
def test_a_bad_jsonl_line_is_named_when_strict(tmp_path: Path, case: str) -> None:
    line, reason = BROKEN_THIRD_LINE[case]
    path = _lines(tmp_path / "bad.jsonl", [_line(0), _line(1), line, _line(3)])
    with pytest.raises(DatasetError, match=rf"^{path}, line 3: {reason} \(.+\)\. Fix the line") as err:
        _load(str(path), strict=True)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("case", sorted(BROKEN_THIRD_LINE))
def test_a_bad_jsonl_line_is_dropped_and_counted_with_its_line(tmp_path: Path, case: str) -> None:
    line, reason = BROKEN_THIRD_LINE[case]
    path = _lines(tmp_path / "bad.jsonl", [_line(0), _line(1), line, _line(3), _line(4)])
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q1", "q3", "q4"]
    assert report.total == 1 and report.lines() == [f"{path}: 1 x {reason} (line 3)"]
    assert "(line 3)" in report.summary()


def test_rows_after_a_dropped_line_keep_their_own_line_numbers(tmp_path: Path) -> None:
    prompt_only = json.dumps({"query": "no answer"})
    path = _lines(tmp_path / "bad.jsonl", [_line(0), "{oops", _line(2), prompt_only])
    with pytest.raises(DatasetError, match=rf"^{path}, line 2: not valid JSON"):
        _load(str(path), strict=True)
    _, _, report = _load(str(path))
    assert report.lines() == [
        f"{path}: 1 x not valid JSON (line 2)",
        f"{path}: 1 x no final assistant turn (line 4)",
    ]


def test_blank_lines_do_not_shift_line_numbers(tmp_path: Path) -> None:
    path = _lines(tmp_path / "gaps.jsonl", [_line(0), "", "   ", _line(1), json.dumps({"query": "q"})])
    assert scan(path).blank_lines and not scan(_lines(tmp_path / "ok.jsonl", [_line(0)])).blank_lines
    with pytest.raises(DatasetError, match=rf"^{path}, line 5: no final assistant turn"):
        _load(str(path), strict=True)


def test_a_file_with_only_bad_lines_says_so(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", ["{", "}"])
    with pytest.raises(
        DatasetError, match=rf"^{path}: no line could be read as a row; line 1: not valid JSON"
    ):
        _load(str(path))


def test_a_json_lines_file_named_json_drops_its_bad_line(tmp_path: Path) -> None:
    path = _lines(tmp_path / "rows.json", [_line(0), _line(1), '{"query": ', _line(3)])
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
    path = _lines(tmp_path / "m.jsonl", [json.dumps({"messages": "hello there"}), _line(1)])
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
    return _lines(tmp_path / "good.jsonl", [_line(i) for i in range(4)])


TOOLLESS = {
    "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}],
    "tools": [{"type": "function", "function": {"description": "has no name"}}],
}


def test_a_tool_without_a_name_is_a_bad_row(tmp_path: Path) -> None:
    path = _lines(tmp_path / "tools.jsonl", [_line(0), json.dumps(TOOLLESS), _line(2)])
    with pytest.raises(
        DatasetError, match=r"tools.jsonl, line 2: bad tools \(tool 1: a tool must be a function"
    ):
        _load(str(path), strict=True)
    train, _, report = _load(str(path))
    assert _queries(train) == ["q0", "q2"] and report.lines() == [f"{path}: 1 x bad tools (line 2)"]


def test_a_failed_split_says_first_what_was_dropped_and_why(tmp_path: Path) -> None:
    rows = [_line(0)] + [json.dumps({"query": f"q{i}"}) for i in (1, 2, 3)]
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
    path = _lines(tmp_path / "rows.jsonl", [_line(i) for i in range(4)])

    def drop_q2(rows, text):
        assert text == str(path)
        return rows.filter(lambda row: row["messages"][0]["content"] != "q2")

    for seed in range(6):
        train, val, _ = load_datasets(
            DataArguments(dataset=[str(path)], split_dataset_ratio=0.3, data_seed=seed), before_split=drop_q2
        )
        assert len(val) == 1 and sorted(_queries(train) + _queries(val)) == ["q0", "q1", "q3"]


def test_a_stream_fails_at_a_bad_line_naming_it(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", [_line(0), "{", _line(2)])
    with pytest.raises(DatasetError, match=rf"^{path}, line 2: not valid JSON .*--streaming cannot skip"):
        train, _, _ = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
        list(train)


def test_a_stream_of_a_file_that_is_not_utf8_drops_the_line(tmp_path: Path) -> None:
    path = _lines(tmp_path / "bad.jsonl", [_line(0), b'{"query": "\xff"}', _line(2)])
    train, _, report = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
    assert _queries(train) == ["q0", "q2"] and report.lines() == [f"{path}: 1 x not UTF-8 (line 2)"]


def test_a_good_stream_reads_every_row(tmp_path: Path) -> None:
    path = _lines(tmp_path / "good.jsonl", [_line(i) for i in range(5)])
    train, _, _ = load_datasets(DataArguments(dataset=[str(path)], streaming=True), max_steps=2)
    assert _queries(train) == ["q0", "q1", "q2", "q3", "q4"]


def test_csv_reading_goes_on_after_a_record_the_reader_rejects(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(f"query,response\nq0,{'x' * 200_000}\nq1,a1\nq2,a2,extra\nq3,a3\n")
    numbers, good, bad = csv_records(path)
    assert numbers == [3, 5] and good.splitlines() == ["query,response", "q1,a1", "q3,a3"]
    assert [(b.line, b.reason) for b in bad] == [(2, "not valid CSV"), (4, "wrong number of fields")]


@pytest.mark.parametrize(
    "content",
    [
        b'{"a": 1}\n{"b": 2}\n',
        b'{"a": 1}\n\n{"b": 2}',
        b'\n{"a": 1}',
        b'{"a": 1}\n \t \n{"b": 2}\n',
        b"x" * 20,
    ],
)
def test_the_blank_line_scan_sees_across_chunks(tmp_path: Path, monkeypatch, content: bytes) -> None:
    import tunekite.data.file_lines as file_lines

    path = tmp_path / "rows.jsonl"
    path.write_bytes(content)
    expected = any(not line.strip(b" \t\r") for line in content.split(b"\n")[:-1])
    for chunk in (1, 2, 3, 1 << 20):
        monkeypatch.setattr(file_lines, "_CHUNK", chunk)
        assert scan(path).blank_lines == expected, chunk
