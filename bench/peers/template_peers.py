"""ms-swift's template encode beside ours for bench/templates.py: the same rows written to a
file, encoded in ms-swift's environment by peers/swift_encode.py (one process, as ours)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from peers.envs import SWIFT
from peers.process import bench_env
from peers.setting import SMOLLM2_SYSTEM


def compare(
    rows: list[dict[str, Any]], ours_rows_per_s: float, ours_cpu_seconds: float, work: Path
) -> dict[str, Any]:
    """ms-swift's rows/s and tokens per row, and ours over its rows/s; on a shared machine
    the wall-clock ratio moves with the load, so the ratio of CPU seconds is recorded too."""
    from tunekite_gguf.named import smollm2_folder

    work.mkdir(parents=True, exist_ok=True)
    source = work / "rows.jsonl"
    source.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    script = Path(__file__).with_name("swift_encode.py")
    argv = [str(SWIFT.bin / "python"), str(script), str(smollm2_folder()), str(source), SMOLLM2_SYSTEM]
    done = subprocess.run(argv, capture_output=True, text=True, env=bench_env())
    if done.returncode != 0:
        raise SystemExit(f"ms-swift template encode failed:\n{done.stderr[-2000:]}")
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "ms-swift": {**figures, "versions": SWIFT.versions()},
        "ours_over_ms-swift": round(ours_rows_per_s / figures["rows_per_s"], 3),
        "ours_over_ms-swift_by_cpu_seconds": round(figures["cpu_seconds"] / ours_cpu_seconds, 3),
    }
