"""Bad datasets through the real `tk`: one `Error:` line naming the file, line or argument,
no traceback, a non-zero exit, and (for sft) no checkpoint; or, without --strict, a run
that trains on the good rows and names the dropped ones.

Cross-distribution: sft runs use the LoRA tuner and ChatML template plugins.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.testing import save_tiny_chat_model

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")


def _chat(i: int, answer: str | None = None) -> str:
    answer = answer or f"{i} plus {i} is {2 * i}."
    messages = [
        {"role": "user", "content": f"what is {i} plus {i}?"},
        {"role": "assistant", "content": answer},
    ]
    return json.dumps({"messages": messages})


def _write(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


def _error_line(result) -> str:
    """The one `Error:` line of a failed `tk`, after checking there is no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def _preview(tk, model_dir: Path, dataset: str, *extra: str):
    return tk("data", "preview", "--model", str(model_dir), "--dataset", dataset, *extra, timeout=300)


def _bad_files(root: Path) -> dict[str, tuple[str, tuple[str, ...], str]]:
    """Case name -> (--dataset value, extra options, the error line expected)."""
    good = [_chat(i) for i in range(4)]
    empty = root / "empty.jsonl"
    empty.write_text("")
    latin1 = _write(root / "latin1.jsonl", [good[0], b'{"messages": "caf\xe9"}'])
    as_string = _write(root / "string.jsonl", [good[0], json.dumps({"messages": "hello"})])
    truncated = _write(root / "truncated.jsonl", [good[0], good[1], good[2][:25], good[3]])
    tools = json.loads(good[1]) | {"tools": [{"type": "function", "function": {"description": "no name"}}]}
    toolless = _write(root / "tools.jsonl", [good[0], json.dumps(tools)])
    sample = _write(root / "good.jsonl", good)
    strict = ("--strict", "true")
    return {
        "empty file": (str(empty), (), f"Error: {empty} is empty: it holds no rows"),
        "non-UTF-8 bytes": (str(latin1), strict, f"Error: {latin1}, line 2: not UTF-8 (byte 0xe9 at column"),
        "messages as a string": (
            str(as_string),
            strict,
            f"Error: {as_string}, line 2: bad messages (messages must be a list of {{role, content}} objects",
        ),
        "truncated line 3": (str(truncated), strict, f"Error: {truncated}, line 3: not valid JSON ("),
        "tool without a name": (
            str(toolless),
            strict,
            f"Error: {toolless}, line 2: bad tools (tool 1: a tool must be a function definition",
        ),
        "negative sample count": (
            f"{sample}#-5",
            (),
            f"Error: bad --dataset value '{sample}#-5': the sample size after '#' must be a whole number",
        ),
    }


CASES = ["empty file", "non-UTF-8 bytes", "messages as a string", "truncated line 3", "tool without a name"]


@pytest.mark.parametrize("case", [*CASES, "negative sample count"])
def test_a_bad_dataset_is_one_error_line(tk, model_dir, tmp_path, case):
    dataset, extra, expected = _bad_files(tmp_path)[case]
    assert _error_line(_preview(tk, model_dir, dataset, *extra)).startswith(expected)


def _sft(tk, model_dir: Path, dataset: Path, out: Path, *extra: str):
    return tk(
        "run", "sft", "--model", str(model_dir), "--dataset", str(dataset), "--output_dir", str(out),
        "--add_version", "false", "--report_to", "none", "--gradient_checkpointing", "false",
        "--max_steps", "1", "--per_device_train_batch_size", "2", *extra,
        timeout=600,
    )  # fmt: skip


def _checkpoints(out: Path) -> list[Path]:
    return sorted(out.glob("checkpoint-*")) if out.exists() else []


def test_sft_strict_truncated_line_3_fails_naming_it_and_trains_nothing(tk, model_dir, tmp_path):
    rows = [_chat(i) for i in range(8)]
    data = _write(tmp_path / "data.jsonl", [*rows[:2], rows[2][:30], *rows[3:]])
    out = tmp_path / "run"
    line = _error_line(_sft(tk, model_dir, data, out, "--strict", "true", "--split_dataset_ratio", "0"))
    assert line.startswith(f"Error: {data}, line 3: not valid JSON (")
    assert _checkpoints(out) == [] and not (out / "logging.jsonl").exists()


def test_sft_drops_truncated_line_3_names_it_and_trains_on_the_rest(tk, model_dir, tmp_path):
    rows = [_chat(i) for i in range(8)]
    data = _write(tmp_path / "data.jsonl", [*rows[:2], rows[2][:30], *rows[3:]])
    out = tmp_path / "run"
    result = _sft(tk, model_dir, data, out, "--split_dataset_ratio", "0")
    assert result.returncode == 0, result.stderr
    assert "Dropped 1 malformed row(s)" in result.stderr
    assert f"{data}: 1 x not valid JSON (line 3)" in result.stderr
    assert [p.name for p in _checkpoints(out)] == ["checkpoint-1"]


def test_sft_says_what_was_dropped_before_a_split_that_cannot_be_made(tk, model_dir, tmp_path):
    prompt_only = [json.dumps({"messages": [{"role": "user", "content": f"q{i}"}]}) for i in range(3)]
    data = _write(tmp_path / "data.jsonl", [_chat(0), *prompt_only])
    out = tmp_path / "run"
    line = _error_line(_sft(tk, model_dir, data, out, "--split_dataset_ratio", "0.01"))
    assert line.startswith(
        f"Error: --dataset {data}: dropped {data}: 3 x no final assistant turn (line 2, line 3, line 4). So: "
    )
    assert "too few to hold out 0.01 for validation" in line and _checkpoints(out) == []


def test_sft_an_over_long_row_is_dropped_before_the_validation_split(tk, model_dir, tmp_path):
    # With data_seed 42 the split of 5 rows holds out row 2 (index 1): make it the long one.
    rows = [_chat(i) for i in range(5)]
    rows[1] = _chat(1, "long " * 400)
    data = _write(tmp_path / "data.jsonl", rows)
    out = tmp_path / "run"
    result = _sft(tk, model_dir, data, out, "--split_dataset_ratio", "0.2", "--max_length", "128")
    assert result.returncode == 0, result.stderr
    assert f"{data}: dropped 1 row(s) longer than --max_length 128" in result.stderr
    assert [p.name for p in _checkpoints(out)] == ["checkpoint-1"]
