"""What each way of running several processes costs on SmolLM2-135M LoRA SFT: 1 process vs
2 DDP ranks vs DeepSpeed ZeRO-2 vs ZeRO-3 (2 ranks, gloo, CPU).

bench/sft.py's setting (max_length 512, fp32, no gradient checkpointing, all-linear rank 8,
its generated conversations, over-long ones cut from the left), at one global batch of 4:
1 process x 4 rows, or 2 ranks x 2 rows. Each configuration is its own `tk run sft` (under
torchrun for 2 ranks); every rank records its own peak RSS. On a 2-core machine 2 ranks
cannot be faster than one process: the figures say what each engine costs, not what it
gains on real GPUs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import runpy
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sft import generate_rows

GLOBAL_BATCH = 4
CONFIGS: dict[str, tuple[int, list[str]]] = {
    "1_process": (1, []),
    "ddp_2_ranks": (2, ["--ddp_backend", "gloo"]),
    "zero2_2_ranks": (2, ["--deepspeed", "zero2"]),
    "zero3_2_ranks": (2, ["--deepspeed", "zero3"]),
}


def rank_main(record: Path, argv: list[str]) -> None:
    """One rank: `tk run sft` in this process, then its peak RSS into `record`."""
    sys.argv = ["tk", *argv]
    try:
        runpy.run_module("tunekite", run_name="__main__")
    finally:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        rank = os.environ.get("RANK", "0")
        (record / f"rss-rank{rank}.json").write_text(
            json.dumps({"rank": int(rank), "peak_rss_mb": round(peak, 1)})
        )


def run_config(
    name: str, ranks: int, extra: list[str], data: Path, work: Path, steps: int, max_length: int
) -> dict:
    import subprocess

    out = work / name
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("rss-rank*.json"):
        old.unlink()
    # Removed here, not with --overwrite_output_dir: every rank would empty the folder.
    shutil.rmtree(out / "run", ignore_errors=True)
    sft = [
        "run", "sft", "--model", "smollm2-135m-instruct", "--tuner", "lora", "--dataset", str(data),
        "--max_length", str(max_length), "--truncation_strategy", "left",
        "--per_device_train_batch_size", str(GLOBAL_BATCH // ranks),
        "--max_steps", str(steps), "--gradient_checkpointing", "false", "--torch_dtype", "float32",
        "--logging_steps", "1", "--save_strategy", "no", "--report_to", "none", "--split_dataset_ratio", "0",
        "--output_dir", str(out / "run"), "--add_version", "false",
        "--dataloader_num_workers", "0", *extra,
    ]  # fmt: skip
    me = [__file__, "--rank-record", str(out), "--"]
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks)]
    argv = [*launch, *me, *sft] if ranks > 1 else [sys.executable, *me, *sft]
    start = time.perf_counter()
    with (work / f"{name}.log").open("w") as log:
        status = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        raise SystemExit(f"{name}: tk run sft failed, see {work / name}.log")
    wall = time.perf_counter() - start
    logs = [json.loads(line) for line in (out / "run/logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    rss = sorted((json.loads(p.read_text()) for p in out.glob("rss-rank*.json")), key=lambda r: r["rank"])
    return {
        "ranks": ranks,
        "rows_per_rank": GLOBAL_BATCH // ranks,
        "train_runtime_s": summary["train_runtime"],
        "samples_per_s": round(steps * GLOBAL_BATCH / summary["train_runtime"], 3),
        "peak_rss_mb_per_rank": [r["peak_rss_mb"] for r in rss],
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "wall_s_including_start": round(wall, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/distributed.json"))
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--max_length", type=int, default=512, help="bench/sft.py's 512; less for a quick check"
    )
    parser.add_argument("--work", type=Path, default=Path("output/bench-distributed"))
    parser.add_argument("--only", nargs="*", choices=list(CONFIGS), help="run only these configurations")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "generated.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in generate_rows(args.steps * GLOBAL_BATCH)) + "\n")
    chosen = {k: v for k, v in CONFIGS.items() if not args.only or k in args.only}
    results: dict = {
        "setting": {
            "model": "smollm2-135m-instruct",
            "tuner": "lora (all-linear, rank 8)",
            "global_batch": GLOBAL_BATCH,
            "max_length": args.max_length,
            "steps": args.steps,
            "dtype": "float32",
            "backend": "gloo (CPU)",
            "cpu_cores": os.cpu_count(),
        }
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for name, spec in chosen.items():  # written after each one: a long bench keeps what it measured
        results[name] = run_config(name, *spec, data, args.work, args.steps, args.max_length)
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    if "--rank-record" in sys.argv:
        at = sys.argv.index("--rank-record")
        rank_main(Path(sys.argv[at + 1]), sys.argv[sys.argv.index("--") + 1 :])
    else:
        main()
