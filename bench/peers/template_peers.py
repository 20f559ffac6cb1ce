"""ms-swift's template encode beside ours for bench/templates.py: the same rows written to a
file, encoded in ms-swift's environment by peers/swift_encode.py (one process, as ours)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from statistics import median
from typing import Any

from peers.envs import SWIFT
from peers.process import bench_env
from peers.setting import SMOLLM2_SYSTEM


def swift_encoder(rows: list[dict[str, Any]], work: Path) -> Callable[[], dict[str, Any]]:
    """A function that encodes `rows` once with ms-swift's template and returns its figures
    (rows/s, CPU seconds, tokens per row) and the load average before and after."""
    from tunekite_gguf.named import smollm2_folder

    work.mkdir(parents=True, exist_ok=True)
    source = work / "rows.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    script = Path(__file__).with_name("swift_encode.py")
    argv = [str(SWIFT.bin / "python"), str(script), str(smollm2_folder()), str(source), SMOLLM2_SYSTEM]

    def run() -> dict[str, Any]:
        before = os.getloadavg()[0]
        done = subprocess.run(argv, capture_output=True, text=True, env=bench_env())
        if done.returncode != 0:
            raise SystemExit(f"ms-swift template encode failed:\n{done.stderr[-2000:]}")
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        return {**figures, "load_average": [round(before, 2), round(os.getloadavg()[0], 2)]}

    return run


def compare(ours: list[dict[str, Any]], swift: list[dict[str, Any]]) -> dict[str, Any]:
    """Ours over ms-swift from rounds measured alternately: each round's ratios, and the
    ratio of the medians; on a shared machine the wall-clock ratio moves with the load, so
    the ratio of CPU seconds is recorded too."""
    rates = [o["rows_per_s"] / s["rows_per_s"] for o, s in zip(ours, swift, strict=True)]
    cpu = [s["cpu_seconds"] / o["cpu_seconds_this_process"] for o, s in zip(ours, swift, strict=True)]
    return {
        "ms-swift": {"rounds": swift, "versions": SWIFT.versions()},
        "ours_rounds": ours,
        "ours_over_ms-swift_per_round": [round(r, 3) for r in rates],
        "ours_over_ms-swift": round(
            median(o["rows_per_s"] for o in ours) / median(s["rows_per_s"] for s in swift), 3
        ),
        "ours_over_ms-swift_by_cpu_seconds": round(
            median(s["cpu_seconds"] for s in swift) / median(o["cpu_seconds_this_process"] for o in ours), 3
        ),
        "ours_over_ms-swift_by_cpu_seconds_per_round": [round(r, 3) for r in cpu],
    }
