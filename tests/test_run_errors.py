"""Issue 12 §4 (all but the data-file items): each bad input or failed write ends the run with
an exit code other than 0, one line naming the argument, file or cause, no traceback, and
nothing half-written."""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

import pytest

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")

STEPS = ("--max_steps", "2", "--save_steps", "1")
QUICK = ("--report_to", "none", "--gradient_checkpointing", "false", "--split_dataset_ratio", "0")


def one_line(stderr: str) -> str:
    """The single line on stderr, asserting there is exactly one and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def error_line(stderr: str) -> str:
    """The single `Error:` line of a run that also logged progress; no traceback."""
    assert "Traceback" not in stderr, stderr
    (line,) = re.findall(r"Error: [^\r\n]*", stderr)  # a progress bar may precede it
    return line


def tk_sft(tk, tiny_chat, cwd: Path, *extra: str, env: dict[str, str] | None = None):
    model, data = tiny_chat
    return tk("run", "sft", "--model", str(model), "--dataset", str(data), *QUICK, *extra, cwd=cwd, env=env)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--learning_rate", "-1"), "Error: --learning_rate must be greater than 0, got -1.0"),
        (
            ("--fp16", "true", "--bf16", "true"),
            "Error: --fp16 true and --bf16 true: choose one mixed precision (bf16 where the device has it)",
        ),
        (
            ("--per_device_train_batch_size", "0"),
            "Error: --per_device_train_batch_size must be at least 1, got 0",
        ),
        (
            ("--num_train_epochs", "0"),
            "Error: --num_train_epochs 0 trains nothing; give a positive number of epochs or --max_steps",
        ),
        (
            ("--tuner", "lora", "--train_type", "full"),
            "Error: command line: --tuner and --train_type are one argument under two names; give only one",
        ),
        (("--resume_from_checkpoint", "missing"), "Error: --resume_from_checkpoint missing: no such folder"),
        (
            ("--resume_from_checkpoint", "empty"),
            "Error: --resume_from_checkpoint empty: the folder is empty, not a checkpoint",
        ),
        (("--output_dir", "a-file"), "Error: --output_dir a-file is a file, not a folder"),
    ],
)
def test_a_bad_value_is_one_line_and_writes_nothing(tk, tiny_chat, tmp_path, extra, message):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    result = tk_sft(tk, tiny_chat, tmp_path, *extra)
    assert result.returncode != 0
    assert one_line(result.stderr) == message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "empty"]


def test_a_corrupt_model_config_is_named(tk, tiny_chat, tmp_path):
    model = tmp_path / "broken-model"
    shutil.copytree(tiny_chat[0], model)
    (model / "config.json").write_text('{"model_type": "llama",\n  "hidden_size": }')
    result = tk_sft(tk, (model, tiny_chat[1]), tmp_path)
    assert result.returncode != 0
    assert one_line(result.stderr) == (
        f"Error: --model {model}: config.json is not valid JSON (line 2, column 18: Expecting value)"
    )
    assert not (tmp_path / "output").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; see the test below")
def test_a_read_only_output_folder_is_named(tk, tiny_chat, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    result = tk_sft(tk, tiny_chat, tmp_path, "--output_dir", str(folder / "run"))
    assert result.returncode != 0
    assert "is not writable" in one_line(result.stderr)
    assert list(folder.iterdir()) == []


def cli(capsys, *args: str) -> tuple[int, str]:
    """`tk ARGS` in this process (so monkeypatched fakes apply): exit code and stderr."""
    from tunekite.cli import main

    with pytest.raises(SystemExit) as exited:
        main(list(args))
    return exited.value.code, capsys.readouterr().err


def test_a_read_only_output_folder_is_named_in_process(sft_argv, tmp_path, capsys, monkeypatch):
    import tunekite.run_folder as run_folder

    real = os.access
    monkeypatch.setattr(run_folder.os, "access", lambda p, mode: Path(p) != tmp_path and real(p, mode))
    code, stderr = cli(capsys, "run", "sft", *sft_argv(tmp_path / "run", *STEPS))
    assert code != 0
    line = one_line(stderr)
    assert (
        line
        == f"Error: --output_dir {tmp_path / 'run'}: {tmp_path} is not writable (choose another --output_dir)"
    )
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "failure",
    [
        RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 434176 vs 434064"),
        OSError(errno.ENOSPC, "No space left on device"),
    ],
    ids=["torch-short-write", "enospc"],
)
def test_a_full_disk_while_saving_says_so(sft_argv, tmp_path, capsys, monkeypatch, failure):
    import torch

    import tunekite.run_folder as run_folder

    def full(*args, **kwargs):
        raise failure

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(run_folder, "free_space", lambda folder: 0)
    out = tmp_path / "run"
    code, stderr = cli(capsys, "run", "sft", *sft_argv(out, *STEPS))
    assert code != 0
    line = error_line(stderr)
    assert line.startswith("Error: no space left on device while writing ")
    assert str(out / "checkpoint-1") in line or str(out / ".staging") in line
    assert not list(out.glob("checkpoint-*")) and not (out / ".staging").exists()


def test_the_output_folder_deleted_mid_run_is_named(sft_argv, tmp_path, capsys, monkeypatch):
    from tunekite.training.outputs import JsonlLogger

    out = tmp_path / "run"
    original = JsonlLogger.on_log

    def delete_then_log(self, args, state, control, logs=None, **kwargs):
        shutil.rmtree(out, ignore_errors=True)
        return original(self, args, state, control, logs=logs, **kwargs)

    monkeypatch.setattr(JsonlLogger, "on_log", delete_then_log)
    code, stderr = cli(capsys, "run", "sft", *sft_argv(out, *STEPS))
    assert code != 0
    line = error_line(stderr)
    assert line == f"Error: the output folder {out} was deleted while the run was writing to it"
    assert not out.exists(), "the deleted folder was recreated"


BROKEN_HOOK = """
from tunekite.api import hookimpl

@hookimpl
def tk_register_templates(register):
    raise RuntimeError("the register hook blew up")
"""


def test_a_plugin_whose_register_hook_raises_is_warned_about_once(tk, site):
    env = site("tunekite-blowup", "tunekite_blowup", BROKEN_HOOK)
    listing = tk("list", "templates", env=env)
    assert listing.returncode == 0
    assert one_line(listing.stderr) == (
        "tunekite: warning: plugin 'tunekite_blowup' (tunekite-blowup) failed to load and is left out: "
        "RuntimeError: the register hook blew up (see `tk plugins`)"
    )
    assert "chatml" in listing.stdout
    run = tk("run", "sft", "--tuner", "full", "--help", env=env)
    assert run.returncode == 0 and run.stderr.count("the register hook blew up") == 1
    table = tk("plugins", env=env)
    assert table.returncode == 0 and table.stderr == "" and "blew up" in table.stdout
