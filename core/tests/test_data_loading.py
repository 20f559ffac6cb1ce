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
from tunekite.errors import ArgumentError, UnknownNameError
from tunekite.specs import DatasetSpec


def _qa(i: int) -> dict:
    return {"query": f"q{i}", "response": f"a{i}"}


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _load(*dataset: str, **kw) -> tuple:
    kw.setdefault("split_dataset_ratio", 0.0)
    return load_datasets(DataArguments(dataset=list(dataset), **kw))


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
