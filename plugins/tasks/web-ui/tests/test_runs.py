"""Runs on disk and in subprocesses, curves and the encoded-row preview, without a browser."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tunekite_webui.curves import curves_html, svg_curve
from tunekite_webui.runs import (
    TrainingProcess,
    checkpoints,
    command_line,
    earlier_runs,
    read_log,
    resume_argv,
)


def _run_folder(root: Path, name: str, steps: int, command: str = "sft") -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "args.json").write_text(json.dumps({"max_steps": steps, "tunekite": {"command": command}}))
    records = [
        {"step": s, "max_steps": steps, "loss": 2.0 / s, "learning_rate": 1e-4} for s in range(1, steps + 1)
    ]
    (folder / "logging.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records) + '{"step": 9, "lo')
    for step in (2, 10, steps):
        (folder / f"checkpoint-{step}").mkdir(exist_ok=True)
    (folder / "checkpoint-10" / "args.json").write_text("{}")
    return folder


def test_logs_checkpoints_and_earlier_runs_are_read_from_disk(tmp_path: Path) -> None:
    first = _run_folder(tmp_path / "output" / "tiny", "v0-1", 12)
    second = _run_folder(tmp_path / "output" / "tiny", "v1-2", 4, command="dpo")
    (tmp_path / "output" / "tiny" / "v2-3").mkdir()  # a failed start: nothing to show
    records = read_log(first)
    assert [r["step"] for r in records] == list(range(1, 13))  # the half-written line is left out
    assert [p.name for p in checkpoints(first)] == ["checkpoint-2", "checkpoint-10", "checkpoint-12"]
    assert set(earlier_runs(tmp_path / "output")) == {first, second}
    assert earlier_runs(tmp_path / "missing") == []
    name, argv = resume_argv(second, second / "checkpoint-4")
    assert name == "dpo"
    assert command_line(name, argv) == (
        f"tk run dpo --load_args {second} --output_dir {second} --add_version false "
        f"--resume_from_checkpoint {second / 'checkpoint-4'}"
    )


def test_curves_draw_every_logged_point() -> None:
    records = [{"step": s, "max_steps": 5, "loss": 1.0 / s, "learning_rate": 0.1} for s in range(1, 6)]
    html = curves_html(records)
    assert 'data-metric="loss" data-points="5"' in html and 'data-metric="learning_rate"' in html
    assert "token_acc" not in html
    assert 'data-points="0"' in curves_html([])
    assert "loss: 0.2<" in svg_curve("loss", [(s, 1.0 / s) for s in range(1, 6)])


def test_a_started_process_finds_its_folder_by_the_pid_in_the_lock(tmp_path: Path) -> None:
    base = tmp_path / "output" / "tiny"
    other, mine = base / "v0-a", base / "v1-b"
    for folder in (other, mine):
        folder.mkdir(parents=True)
    (other / ".tunekite.lock").write_text("1\n")  # another run
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], stdout=subprocess.PIPE,
                               text=True)  # fmt: skip
    try:
        run = TrainingProcess(1, "sft", ["--model", "m"], base, process)
        assert run.find_folder() is None and run.status() == "running"
        (mine / ".tunekite.lock").write_text(f"{process.pid}\n")
        assert run.find_folder() == mine
        assert run.command == "tk run sft --model m"
        (mine / "logging.jsonl").write_text(json.dumps({"step": 2, "max_steps": 10, "loss": 1.0}) + "\n")
        assert run.progress(read_log(mine))[:2] == (2, 10)
    finally:
        process.kill()
        process.wait()


def test_the_preview_highlights_the_trained_tokens(tmp_path: Path) -> None:
    from tunekite_webui.preview import TRAINED, encoded_rows

    from tunekite.api import get_host, resolve
    from tunekite.testing import save_tiny_chat_model

    model = save_tiny_chat_model(tmp_path / "tiny")
    rows = [
        {"messages": [{"role": "user", "content": "hello"}, {"role": "assistant", "content": "fine"}]}
    ] * 3
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run, _ = resolve(
        "sft", ["--model", str(model), "--dataset", str(data), "--template", "chatml"], get_host()
    )
    shown = encoded_rows(run, 2)
    assert len(shown) == 2 and shown[0][0].startswith("sample 0:")
    trained = "".join(text for text, label in shown[0][1] if label == TRAINED)
    untrained = "".join(text for text, label in shown[0][1] if label is None)
    assert "fine" in trained and "<|im_end|>" in trained
    assert "hello" in untrained and "hello" not in trained
