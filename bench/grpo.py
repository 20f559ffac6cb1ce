"""GRPO on SmolLM2-135M: seconds per step and the mean accuracy-reward curve, generating
with transformers (pt) and, where its environment exists, with the vLLM engine plugin.

The issue's setting: num_generations 4, max_completion_length 64, on the shipped
`arithmetic` prompts with the `accuracy` and `format` rewards, LoRA, 30 steps of 4
prompts (16 completions) each, on the `small` subset (single-digit sums, each prompt
opening with one worked example): SmolLM2-135M answers about a quarter of those right
at the start, so most groups have mixed rewards; on two-digit sums it scores 0 and GRPO
has nothing to learn from. The run goes through `tk run rlhf --rlhf_type grpo` in its
own process; the results file records seconds per step, the per-step accuracy and
format rewards, and the first/last/mean-of-first-and-last-5 accuracy. The vLLM row is
filled only where the vLLM plugin's environment (`.venv-vllm`, `make vllm-env`) exists:
the same setting with `--use_vllm true`, for `--vllm_steps` steps.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

VLLM_PYTHON = ".venv-vllm/bin/python"
SETTING = {
    "model": "smollm2-135m-instruct",
    "dataset": "arithmetic:small",
    "reward_funcs": ["accuracy", "format"],
    "tuner": "lora",
    "num_generations": 4,
    "max_completion_length": 64,
    "per_device_train_batch_size": 16,
    "learning_rate": 5e-4,
}


def run_grpo(
    name: str, work: Path, steps: int, dtype: str, extra: list[str], python: str = sys.executable
) -> dict:
    out = work / name
    shutil.rmtree(out, ignore_errors=True)  # logging.jsonl of an earlier run would be appended to
    argv = [
        python, "-m", "tunekite", "run", "rlhf",
        "--rlhf_type", "grpo",
        "--model", SETTING["model"],
        "--tuner", SETTING["tuner"],
        "--dataset", SETTING["dataset"],
        "--reward_funcs", *SETTING["reward_funcs"],
        "--num_generations", str(SETTING["num_generations"]),
        "--max_completion_length", str(SETTING["max_completion_length"]),
        "--per_device_train_batch_size", str(SETTING["per_device_train_batch_size"]),
        "--learning_rate", str(SETTING["learning_rate"]),
        "--torch_dtype", dtype,
        "--max_steps", str(steps),
        "--logging_steps", "1",
        "--save_strategy", "no",
        "--report_to", "none",
        "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false",
        "--dataloader_num_workers", "0",
        "--log_completions", "true",
        "--output_dir", str(out),
        "--add_version", "false",
        *extra,
    ]  # fmt: skip
    start = time.perf_counter()
    with (work / f"{name}.log").open("w") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{name}: tk run rlhf failed, see {work / name}.log")
    wall = time.perf_counter() - start
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    steps_logged = [r for r in logs if "rewards/accuracy/mean" in r and "train_runtime" not in r]
    summary = next(r for r in logs if "train_runtime" in r)
    accuracy = [round(r["rewards/accuracy/mean"], 4) for r in steps_logged]
    head, tail = accuracy[:5], accuracy[-5:]
    return {
        "steps": len(steps_logged),
        "seconds_per_step": round(summary["train_runtime"] / max(1, len(steps_logged)), 2),
        "train_runtime_s": round(summary["train_runtime"], 1),
        "wall_s_including_load": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "accuracy_curve": accuracy,
        "format_curve": [round(r["rewards/format/mean"], 4) for r in steps_logged],
        "completion_length_curve": [round(r.get("completions/mean_length", 0.0), 1) for r in steps_logged],
        "first_accuracy": accuracy[0] if accuracy else None,
        "last_accuracy": accuracy[-1] if accuracy else None,
        "mean_accuracy_first_5": round(sum(head) / len(head), 4) if head else None,
        "mean_accuracy_last_5": round(sum(tail) / len(tail), 4) if tail else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/grpo.json"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--vllm_steps", type=int, default=10, help="steps of the --use_vllm run")
    parser.add_argument("--dtype", default="float32", choices=["bfloat16", "float32"])
    parser.add_argument("--work", type=Path, default=Path("output/bench-grpo"))
    parser.add_argument(
        "--engines", nargs="+", default=["pt", "vllm"], choices=["pt", "vllm"],
        help="rows to (re)measure; the others are kept from an existing --output",
    )  # fmt: skip
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict = json.loads(args.output.read_text()) if args.output.exists() else {}
    results["setting"] = {**SETTING, "steps": args.steps, "torch_dtype": args.dtype}
    if "pt" in args.engines:
        results["pt"] = run_grpo("pt", args.work, args.steps, args.dtype, [])
    if "vllm" in args.engines and Path(VLLM_PYTHON).exists():
        # The same run generating through the vLLM engine plugin, from its own environment.
        results["vllm"] = run_grpo(
            "vllm", args.work, args.vllm_steps, args.dtype, ["--use_vllm", "true"], python=VLLM_PYTHON
        )
    elif "vllm" in args.engines:
        results["vllm"] = f"skipped: no {VLLM_PYTHON} (make vllm-env builds it)"
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
