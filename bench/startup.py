"""Start-up time of the light commands, with every plugin of the repository installed.

Targets (issue: plugin core): `tk --help` <= 0.15 s and `tk plugins` <= 0.4 s median.
The bare interpreter start is measured in the same run, so the ratios stay
meaningful on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

BIN = Path(sys.executable).parent
COMMANDS = {
    "python -c pass": ([sys.executable, "-c", "pass"], None),
    "tk --help": ([str(BIN / "tk"), "--help"], 0.15),
    "tk plugins": ([str(BIN / "tk"), "plugins"], 0.4),
    "tk list tuners": ([str(BIN / "tk"), "list", "tuners"], None),
    "tk run sft --tuner lora --help": ([str(BIN / "tk"), "run", "sft", "--tuner", "lora", "--help"], None),
}


def median_seconds(cmd: list[str], repeats: int) -> tuple[float, list[float]]:
    env = {**os.environ, "COLUMNS": "200"}
    subprocess.run(cmd, env=env, capture_output=True, check=True)  # warm the file cache
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--output", default="bench/results/startup.json")
    opts = parser.parse_args()
    results = {}
    baseline = None
    for label, (cmd, target) in COMMANDS.items():
        median, times = median_seconds(cmd, opts.repeats)
        baseline = baseline or median
        results[label] = {
            "median_s": round(median, 4),
            "min_s": round(min(times), 4),
            "vs_bare_python": round(median / baseline, 2),
            "target_s": target,
            "meets_target": None if target is None else median <= target,
        }
        print(f"{label:34s} median {median:.3f} s  min {min(times):.3f} s  target {target or '-'}")
    out = Path(opts.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "benchmark": "startup",
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "repeats": opts.repeats,
        "results": results,
    }
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
