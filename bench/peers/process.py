"""Run a command line and measure it the same way for TuneKite and for the peers."""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Measured:
    wall_s: float
    peak_rss_mb: float
    returncode: int


def run_measured(
    argv: list[str], log: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Measured:
    """Run `argv` with its output in `log`; peak RSS is of the whole process tree (the sum over
    the process and its descendants, sampled every 0.1 s), because `swift sft` and
    `llamafactory-cli` train in a child process and `ru_maxrss` only sees the largest one."""
    start = time.perf_counter()
    with log.open("w") as out:
        child = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        peak = _TreePeak(child.pid)
        peak.start()
        returncode = child.wait()
        peak.stop()
    return Measured(round(time.perf_counter() - start, 1), round(peak.bytes / 2**20, 1), returncode)


class _TreePeak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.root = psutil.Process(pid)
        self.bytes = 0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            self.bytes = max(self.bytes, self._tree_rss())
            self.done.wait(0.1)

    def stop(self) -> None:
        self.done.set()
        self.join()

    def _tree_rss(self) -> int:
        total = 0
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        return total


def bench_env(device: str = "cpu", **extra: str) -> dict[str, str]:
    """The environment every side runs in, ours included: offline (the peers' hub clients must
    not reach the network) and on the CPU unless `device` is "cuda"."""
    hidden = {"CUDA_VISIBLE_DEVICES": ""} if device == "cpu" else {}
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "USE_HF": "1",
        "MODELSCOPE_OFFLINE": "1",
        **hidden,
        "TOKENIZERS_PARALLELISM": "false",
        **extra,
    }
