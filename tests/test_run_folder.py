"""Issue 12 §3 and issue 11 §3: one run per output folder, and output folders only where
something is written. A run folder is locked while its run lives, refused when it holds
another run's checkpoints, removed again after a failed start; tasks that only serve or
answer write no run folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tunekite import hookimpl
from tunekite.api import start
from tunekite.registrations import TrainerSpec
from tunekite.run_folder import LOCK_FILE, OutputError

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")

TK = str(Path(sys.executable).parent / "tk")


@pytest.fixture
def recorder(tk_plugins):
    """A host with a `record` trainer whose factory returns the run, or raises what it is given."""

    def factory(run):
        if run.seed == 13:
            raise RuntimeError("the recipe failed before writing anything")
        return run

    @hookimpl
    def tk_register_trainers(register):
        register(TrainerSpec(name="record", summary="records its run", factory=factory))

    return tk_plugins.add(type("P", (), {"tk_register_trainers": staticmethod(tk_register_trainers)}))


def test_a_second_run_into_a_locked_folder_fails_at_once_and_the_first_finishes_intact(sft_argv, tmp_path):
    out = tmp_path / "shared"
    first = subprocess.Popen(
        [TK, "run", "sft", *sft_argv(out, "--max_steps", "6", "--save_steps", "2", "--lora_rank", "8")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock = out / LOCK_FILE
    deadline = time.monotonic() + 120
    while not (lock.is_file() and lock.read_text().strip()) and first.poll() is None:
        assert time.monotonic() < deadline, "the first run never took its lock"
        time.sleep(0.1)
    assert lock.read_text().strip() == str(first.pid)
    began = time.monotonic()
    second = subprocess.run(
        [TK, "run", "sft", *sft_argv(out, "--max_steps", "6", "--save_steps", "1", "--lora_rank", "4")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert first.poll() is None, "the first run ended before the second was tried"
    assert second.returncode != 0 and time.monotonic() - began < 30
    assert second.stderr.strip() == (
        f"Error: {out} is in use by another run (PID {first.pid}); "
        "wait for it to end or choose another --output_dir"
    )
    _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    assert sorted(p.name for p in out.glob("checkpoint-*")) == [
        "checkpoint-2",
        "checkpoint-4",
        "checkpoint-6",
    ]
    for checkpoint in out.glob("checkpoint-*"):
        assert json.loads((checkpoint / "adapter_config.json").read_text())["r"] == 8
        assert json.loads((checkpoint / "args.json").read_text())["lora_rank"] == 8
    steps = [json.loads(line)["step"] for line in (out / "logging.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] == 6
    assert json.loads((out / "args.json").read_text())["lora_rank"] == 8
    assert not lock.exists() and not (out / ".staging").exists()


def test_the_lock_of_a_dead_process_is_taken_over(recorder, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / LOCK_FILE).write_text("999999999\n")  # no such PID, and no flock held
    run = start("record", ["--output_dir", str(out), "--add_version", "false"], recorder)
    assert run.output_dir == out and (out / "args.json").is_file()
    assert not (out / LOCK_FILE).exists()


def test_a_folder_holding_another_runs_checkpoints_is_refused_unless_overwritten(recorder, tmp_path):
    out = tmp_path / "o"
    (out / "checkpoint-3").mkdir(parents=True)
    (out / "logging.jsonl").write_text('{"step": 3}\n')
    (out / "notes.txt").write_text("mine")
    argv = ["--output_dir", str(out), "--add_version", "false"]
    with pytest.raises(
        OutputError, match=r"holds another run's checkpoints \(checkpoint-3\).*--overwrite_output_dir"
    ):
        start("record", argv, recorder)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-3", "logging.jsonl", "notes.txt"]
    start("record", [*argv, "--overwrite_output_dir", "true"], recorder)
    assert sorted(p.name for p in out.iterdir()) == ["args.json", "notes.txt"]


def test_a_failed_start_removes_what_it_created(recorder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RuntimeError, match="failed before writing"):
        start("record", ["--seed", "13"], recorder)  # output/record/v0-... made, then removed
    with pytest.raises(RuntimeError):
        start("record", ["--seed", "13", "--output_dir", "a/b", "--add_version", "false"], recorder)
    assert list(tmp_path.iterdir()) == []
    Path("kept").mkdir()
    (Path("kept") / "own.txt").write_text("x")
    with pytest.raises(RuntimeError):
        start("record", ["--seed", "13", "--output_dir", "kept", "--add_version", "false"], recorder)
    assert [p.name for p in Path("kept").iterdir()] == ["own.txt"]


def test_a_run_whose_template_plugin_is_missing_leaves_no_output_folder(tk, sft_argv, tmp_path):
    out = tmp_path / "output" / "tiny-chat"
    argv = [*sft_argv(out), "--template", "chatml"]
    result = tk("run", "sft", *argv, env={"TUNEKITE_PLUGINS": "lora"}, cwd=tmp_path)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr and "tunekite-chatml" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_resume_in_the_same_folder_never_repeats_logged_steps_nor_records_staging(sft_argv, tmp_path):
    out = tmp_path / "run"
    argv = sft_argv(
        out,
        "--max_steps",
        "6",
        "--save_steps",
        "2",
        "--learning_rate",
        "5e-3",
        "--split_dataset_ratio",
        "0.2",
        "--per_device_train_batch_size",
        "2",
    )
    start("sft", argv)
    resumed = start("sft", [*argv, "--resume_from_checkpoint", str(out / "checkpoint-4")])
    steps = [
        r["step"] for r in map(json.loads, (out / "logging.jsonl").read_text().splitlines()) if "loss" in r
    ]
    assert steps == [1, 2, 3, 4, 5, 6]
    assert resumed["best_checkpoint"] and ".staging" not in resumed["best_checkpoint"]
    for state in out.glob("checkpoint-*/trainer_state.json"):
        best = json.loads(state.read_text())["best_model_checkpoint"]
        assert best is not None and ".staging" not in best and Path(best).parent == out, (state, best)


def test_infer_writes_only_its_result_file(tk, tiny_chat, tmp_path):
    model, data = tiny_chat
    result_file = tmp_path / "answers" / "r.jsonl"
    work = tmp_path / "work"
    work.mkdir()
    result = tk(
        "run",
        "infer",
        "--model",
        str(model),
        "--val_dataset",
        f"{data}#2",
        "--max_new_tokens",
        "3",
        "--result_path",
        str(result_file),
        cwd=work,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert len(result_file.read_text().splitlines()) == 2
    assert list(work.iterdir()) == []


def test_deploy_writes_nothing(tmp_path, monkeypatch, tiny_chat):
    import tunekite.tasks.deploy as deploy

    served = []
    monkeypatch.setattr(
        deploy, "build_server", lambda run: type("S", (), {"run": lambda self: served.append(run)})()
    )
    monkeypatch.chdir(tmp_path)
    start("deploy", ["--model", str(tiny_chat[0]), "--api_key", "k3y"])
    assert served and served[0].output_dir is None
    assert list(tmp_path.iterdir()) == []


def test_a_held_lock_stops_a_run(recorder, tmp_path):
    """(The ranks of one torchrun job share rank 0's folder without locking it:
    tests/test_distributed.py.)"""
    from tunekite.run_folder import _lock, _unlock

    out = tmp_path / "o"
    out.mkdir()
    fd = _lock(out)
    argv = ["--output_dir", str(out), "--add_version", "false"]
    try:
        with pytest.raises(OutputError, match=rf"in use by another run \(PID {os.getpid()}\)"):
            start("record", argv, recorder)
    finally:
        _unlock(out, fd)


def test_infer_results_go_into_the_checkpoint_or_result_folder(tmp_path):
    from tunekite.api import resolve
    from tunekite.tasks.infer import default_result_folder

    checkpoint = tmp_path / "run" / "checkpoint-4"
    run, _ = resolve("infer", ["--adapters", str(checkpoint), "--model", "m"])
    assert default_result_folder(run) == checkpoint / "infer_result"
    run, _ = resolve("infer", ["--model", "/models/SmolLM2-135M/"])
    assert default_result_folder(run) == Path("result/SmolLM2-135M/infer_result")
