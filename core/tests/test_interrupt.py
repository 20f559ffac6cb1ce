"""Ctrl-C during `tk run sft` saves a complete checkpoint of the step reached and exits 0."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from tunekite.testing import save_tiny_chat_model


def _records(log: Path) -> list[dict]:
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_sigint_commits_a_checkpoint_of_the_step_reached_and_exits_cleanly(tmp_path: Path) -> None:
    model = save_tiny_chat_model(tmp_path / "tiny")
    rows = [{"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": f"{i}."}]}
            for i in range(16)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    argv = [
        "--model", str(model), "--dataset", str(data), "--output_dir", str(out), "--add_version", "false",
        "--tuner", "full", "--report_to", "none", "--split_dataset_ratio", "0", "--logging_steps", "1",
        "--max_steps", "100000", "--save_steps", "100000", "--per_device_train_batch_size", "2",
    ]  # fmt: skip
    env = {**os.environ, "TUNEKITE_PLUGINS": "chatml"}
    process = subprocess.Popen(
        [sys.executable, "-m", "tunekite", "run", "sft", *argv],
        env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while len(_records(out / "logging.jsonl")) < 2:
        assert process.poll() is None, process.communicate()[1][-2000:]
        assert time.monotonic() < deadline, "no training step logged within 120 s"
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 0, stderr[-2000:]
    assert "stopped at step" in stderr
    checkpoints = sorted(out.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert len(checkpoints) == 1, checkpoints
    step = int(checkpoints[0].name.split("-")[1])
    assert 2 <= step < 100000
    state = json.loads((checkpoints[0] / "trainer_state.json").read_text())
    assert state["global_step"] == step
    assert (checkpoints[0] / "model.safetensors").is_file() and (checkpoints[0] / "optimizer.pt").is_file()
    described = json.loads((checkpoints[0] / "args.json").read_text())["tunekite"]["checkpoint"]
    assert described["trainer"] == "sft"
    assert not (out / ".staging").exists()
    assert f"last checkpoint: {checkpoints[0]}" in stdout
