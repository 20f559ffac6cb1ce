"""Runs started from the page, and runs found on disk, without gradio.

A run started here is an ordinary `tk run NAME ARGV` in a subprocess (same run folder,
same `args.json`, the same command the page shows). Its folder is found through the lock
file that holds its PID (`<folder>/.tunekite.lock`), so two runs at once never mix; its
curves, progress and ETA come from the `logging.jsonl` it writes; Stop sends SIGINT, on
which core's training saves a complete checkpoint and ends cleanly.
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK_FILE = ".tunekite.lock"
LOG_FILE = "logging.jsonl"
ARGS_FILE = "args.json"
LAST_CHECKPOINT = "last checkpoint: "


def command_line(name: str, argv: list[str]) -> str:
    """The `tk run` command a form stands for, quoted for a POSIX shell."""
    return shlex.join(["tk", "run", name, *argv])


def read_log(folder: Path | None) -> list[dict[str, Any]]:
    """The records of a run's `logging.jsonl` (a line still being written is left out)."""
    path = Path(folder) / LOG_FILE if folder else None
    if path is None or not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def checkpoints(folder: Path | None) -> list[Path]:
    """The committed `checkpoint-N` folders of a run, by step."""
    if folder is None or not Path(folder).is_dir():
        return []
    found = [p for p in Path(folder).glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]))


@dataclass
class TrainingProcess:
    """One `tk run` subprocess started by the page: its output (last lines kept), its run
    folder once found, and the pace of its steps (for the ETA)."""

    number: int
    name: str
    argv: list[str]
    base: Path | None
    process: subprocess.Popen
    lines: collections.deque = field(default_factory=lambda: collections.deque(maxlen=400))
    folder: Path | None = None
    stop_requested: bool = False
    started: float = field(default_factory=time.monotonic)
    pace: list[tuple[float, int]] = field(default_factory=list)

    @property
    def command(self) -> str:
        return command_line(self.name, self.argv)

    @property
    def returncode(self) -> int | None:
        return self.process.poll()

    def status(self) -> str:
        code = self.returncode
        if code is None:
            return "stopping" if self.stop_requested else "running"
        if code == 0:
            return "stopped" if self.stop_requested else "finished"
        return f"failed (exit status {code})"

    def stop(self) -> None:
        """SIGINT, as Ctrl-C in a terminal: the run saves a checkpoint after this step and ends."""
        if self.returncode is None:
            self.stop_requested = True
            self.process.send_signal(signal.SIGINT)

    def log_tail(self, count: int = 40) -> str:
        return "\n".join(list(self.lines)[-count:])

    def find_folder(self) -> Path | None:
        """The run folder whose lock holds this process's PID (or, after a run too short to be
        seen holding it, the folder of the last checkpoint it printed)."""
        if self.folder is not None or self.base is None:
            return self.folder
        for candidate in (self.base, *sorted(self.base.glob("v*"))) if self.base.is_dir() else ():
            try:
                holder = (candidate / LOCK_FILE).read_text().strip()
            except OSError:
                continue
            if holder == str(self.process.pid):
                self.folder = candidate
                break
        return self.folder

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            line = line.rstrip("\n")
            self.lines.append(line)
            if line.startswith(LAST_CHECKPOINT) and self.folder is None:
                self.folder = Path(line.removeprefix(LAST_CHECKPOINT)).parent

    def _watch(self) -> None:
        while self.returncode is None and self.find_folder() is None:
            time.sleep(0.1)

    def progress(self, records: list[dict[str, Any]]) -> tuple[int, int, float | None]:
        """(step, max_steps, seconds left or None) from the run's records and the times this
        process saw its steps."""
        steps = [r for r in records if "step" in r and "max_steps" in r]
        if not steps:
            return 0, 0, None
        step, total = int(steps[-1]["step"]), int(steps[-1]["max_steps"])
        if not self.pace or self.pace[-1][1] != step:
            self.pace.append((time.monotonic(), step))
        (t0, s0), (t1, s1) = self.pace[0], self.pace[-1]
        if s1 <= s0 or self.returncode is not None:
            return step, total, None if self.returncode is None else 0.0
        return step, total, (t1 - t0) / (s1 - s0) * max(total - step, 0)


class Runs:
    """The runs this page started, numbered from 1, each in its own subprocess."""

    def __init__(self) -> None:
        self._runs: dict[int, TrainingProcess] = {}
        self._lock = threading.Lock()

    def start(self, name: str, argv: list[str], base: Path | None) -> TrainingProcess:
        """`tk run NAME ARGV` (as `python -m tunekite`, the same interpreter as this page)."""
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            [sys.executable, "-m", "tunekite", "run", name, *argv],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            errors="replace", bufsize=1,
        )  # fmt: skip
        with self._lock:
            number = len(self._runs) + 1
            run = TrainingProcess(number, name, list(argv), base, process)
            self._runs[number] = run
        threading.Thread(target=run._read, daemon=True).start()
        threading.Thread(target=run._watch, daemon=True).start()
        return run

    def get(self, number: int) -> TrainingProcess | None:
        return self._runs.get(number)

    def by_folder(self, folder: Path) -> TrainingProcess | None:
        for run in self._runs.values():
            if run.find_folder() is not None and run.folder.resolve() == Path(folder).resolve():
                return run
        return None

    def all(self) -> list[TrainingProcess]:
        return list(self._runs.values())

    def stop_all(self) -> None:
        for run in self._runs.values():
            run.stop()


def earlier_runs(root: Path) -> list[Path]:
    """Run folders under `root` (those holding an `args.json` beside a log or checkpoints),
    newest first."""
    if not root.is_dir():
        return []
    found = [
        args.parent
        for args in root.rglob(ARGS_FILE)
        if not args.parent.name.startswith("checkpoint-")
        and ".staging" not in args.parts
        and ((args.parent / LOG_FILE).exists() or checkpoints(args.parent))
    ]
    return sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)


def run_args(folder: Path) -> dict[str, Any]:
    """A run folder's `args.json` ({} when it has none or it is unreadable)."""
    try:
        return json.loads((Path(folder) / ARGS_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def resume_argv(folder: Path, checkpoint: Path) -> tuple[str, list[str]]:
    """The runnable and options that continue `folder`'s run from `checkpoint`, in the same
    folder: its `args.json` as defaults (`--load_args`), then the checkpoint."""
    name = run_args(folder).get("tunekite", {}).get("command", "sft")
    return name, [
        "--load_args", str(folder), "--output_dir", str(folder), "--add_version", "false",
        "--resume_from_checkpoint", str(checkpoint),
    ]  # fmt: skip
