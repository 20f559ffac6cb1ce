"""LoRA SFT throughput on SmolLM2-135M: TuneKite's configurations beside ms-swift and LLaMA-Factory.

Batch 4, max_length 512, 40 steps, no gradient checkpointing, all-linear rank 8, on a
fixed generated 2,000-row dataset. Each configuration runs `tk run sft` in its own
process, and each peer its own command line (`swift sft`, `llamafactory-cli train`, from
`make bench-peers`) with the same model folder, data and settings (fp32), alternately
with ours. The results file records samples/s, tokens/s, peak RSS of the process tree,
the first and last loss per run, training FLOP/s as a share of this machine's GEMM peak
of the same dtype (measured in the same run), the peers' versions, and every ratio of
ours to a peer of this run.

Configurations: `default` (fp32, batching as TuneKite chooses for the device), `padded`
(fp32, padded batches: the old default), `padded_grouped` (padded, length-grouped),
`bf16_autocast` (`--bf16 true` over fp32 weights), `bf16_weights` (`--torch_dtype
bfloat16`), `chunks_1024` and `low_memory` (default with `--padding_free_chunk_tokens
1024` and `512`: each row trained a few samples at a time) and `bf16_low_memory`
(`bf16_weights` so), and `glibc_malloc` (the default with `TUNEKITE_ALLOCATOR=system`:
glibc's malloc where `tk run` would preload tcmalloc); `best` names the fastest whose
mean loss over the last 10 steps is within 5 % of the default fp32 run's.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from peers import sft_peers
from peers.envs import PEERS, available
from peers.process import bench_env, run_measured

LOSS_TOLERANCE = 0.05
WORDS = [
    "the",
    "model",
    "data",
    "train",
    "learn",
    "token",
    "batch",
    "loss",
    "graph",
    "river",
    "mountain",
    "city",
    "music",
    "light",
    "number",
    "answer",
    "question",
    "reason",
    "careful",
    "simple",
    "quickly",
    "because",
    "therefore",
    "however",
    "example",
    "result",
]


def generate_rows(count: int, seed: int = 0) -> list[dict]:
    """Conversations of varied length, as real SFT data has: prompts of 20-260 words,
    replies of 10-200 words, a fifth with a second round."""
    rng = random.Random(seed)

    def text(low: int, high: int) -> str:
        return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high))) + "."

    rows = []
    for _ in range(count):
        messages = [
            {"role": "user", "content": text(20, 260)},
            {"role": "assistant", "content": text(10, 200)},
        ]
        if rng.random() < 0.2:
            messages += [
                {"role": "user", "content": text(5, 40)},
                {"role": "assistant", "content": text(5, 60)},
            ]
        rows.append({"messages": messages})
    return rows


CONFIGS = {
    "default": ["--torch_dtype", "float32"],
    "padded": ["--torch_dtype", "float32", "--padding_free", "false", "--group_by_length", "false"],
    # grouping shows in padded batches (less padding); padding-free batches carry none
    "padded_grouped": ["--torch_dtype", "float32", "--padding_free", "false", "--group_by_length", "true"],
    "bf16_autocast": ["--torch_dtype", "float32", "--bf16", "true"],
    "bf16_weights": ["--torch_dtype", "bfloat16"],
    # the default with each row's forward and backward a few samples (<= N tokens) at a time
    "chunks_1024": ["--torch_dtype", "float32", "--padding_free_chunk_tokens", "1024"],
    "low_memory": ["--torch_dtype", "float32", "--padding_free_chunk_tokens", "512"],
    "bf16_low_memory": ["--torch_dtype", "bfloat16", "--padding_free_chunk_tokens", "512"],
    # the default on glibc's malloc instead of tcmalloc (what `tk run` preloads when present)
    "glibc_malloc": ["--torch_dtype", "float32"],
}
CONFIG_ENV = {"glibc_malloc": {"TUNEKITE_ALLOCATOR": "system"}}
DTYPE = {name: "bfloat16" if {"bfloat16", "--bf16"} & set(a) else "float32" for name, a in CONFIGS.items()}
"""The dtype each configuration's matrix multiplies run in, for its share of that dtype's GEMM peak."""


def run_config(name: str, extra: list[str], data: Path, work: Path, steps: int, per_sample: dict) -> dict:
    """One `tk run sft` of configuration `name`; `per_sample` holds the mean tokens and
    model FLOPs of a training sample, to turn the runtime into tokens/s and FLOP/s."""
    out = work / name
    argv = [
        sys.executable,
        "-m",
        "tunekite",
        "run",
        "sft",
        "--model",
        "smollm2-135m-instruct",
        "--tuner",
        "lora",
        "--dataset",
        str(data),
        "--max_length",
        "512",
        "--per_device_train_batch_size",
        "4",
        "--max_steps",
        str(steps),
        "--gradient_checkpointing",
        "false",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--report_to",
        "none",
        "--split_dataset_ratio",
        "0",
        "--output_dir",
        str(out),
        "--add_version",
        "false",
        "--overwrite_output_dir",
        "true",
        "--dataloader_num_workers",
        "0",
        *extra,
    ]
    measured = run_measured(argv, work / f"{name}.log", env=bench_env(**CONFIG_ENV.get(name, {})))
    if measured.returncode != 0:
        raise SystemExit(f"{name}: tk run sft failed, see {work / name}.log")
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    samples = steps * 4
    log_lines = (work / f"{name}.log").read_text().splitlines()
    batching = next((line for line in log_lines if "batches:" in line), "")
    allocator = next((line for line in log_lines if "allocator:" in line), "")
    return {
        "batches": batching.strip(),
        "allocator": allocator.strip(),
        "train_runtime_s": summary["train_runtime"],
        "samples_per_s": round(samples / summary["train_runtime"], 3),
        "tokens_per_s": round(per_sample["tokens"] * samples / summary["train_runtime"], 1),
        "training_flop_per_s": round(per_sample["flops"] * samples / summary["train_runtime"]),
        "peak_rss_mb": measured.peak_rss_mb,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "mean_loss_last_10": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "wall_s_including_load": measured.wall_s,
    }


def _encoded(data: Path) -> list[dict]:
    """The samples the run trains on, encoded with the same template."""
    from tunekite.arguments.groups import ModelArguments, TemplateArguments
    from tunekite.models.loader import load_tokenizer
    from tunekite.plugin_host import get_host
    from tunekite.templates.resolve import build_template

    host = get_host()
    tokenizer = load_tokenizer(ModelArguments(model="smollm2-135m-instruct"), host=host)
    template = build_template(
        tokenizer, TemplateArguments(max_length=512), "smollm2-135m-instruct", quiet=True, host=host
    )
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    return [s for s in template.encode_batch(rows) if s is not None]


def training_flops(samples: list[dict], rank: int = 8) -> float:
    """Model FLOPs of one LoRA epoch over `samples` (SmolLM2-135M's shape), counting the
    multiplies a frozen base still does: forward and input gradient of every linear
    layer (4 per weight and token), forward and both gradients of the adapters (6),
    attention (causal: 2 L^2 d forward, twice that backward, per layer), and the
    vocabulary projection forward and backward at trained positions only."""
    layers, d, inner, kv, vocab = 30, 576, 1536, 192, 49152
    linear = d * d * 2 + d * kv * 2 + d * inner * 3
    lora = rank * ((d + d) * 2 + (d + kv) * 2 + (d + inner) * 3)
    total = 0.0
    for s in samples:
        length = s["length"]
        trained = sum(label != -100 for label in s["labels"])
        total += length * layers * (4 * linear + 6 * lora) + 6 * layers * length**2 * d
        total += 4 * trained * vocab * d
    return total


def gemm_peak(dtype_name: str, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a square matmul in `dtype_name` with torch's threads."""
    import torch

    dtype = getattr(torch, dtype_name)
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    torch.matmul(a, b)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/sft.json"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all configurations, alternating")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--work", type=Path, default=Path("output/bench-sft"))
    parser.add_argument(
        "--peers", nargs="*", default=[p.name for p in PEERS], help="peers to run beside ours (none: no peer)"
    )
    args = parser.parse_args()
    peers = available(args.peers)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "generated.jsonl"
    rows = generate_rows(args.rows)
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    encoded = _encoded(data)
    per_sample = {
        "tokens": sum(s["length"] for s in encoded) / len(encoded),
        "flops": training_flops(encoded) / len(encoded),
    }
    setting = sft_peers.setting(data, args.steps)
    peaks: dict[str, list[float]] = {dtype: [] for dtype in set(DTYPE.values())}
    runs: dict[str, list[dict]] = {name: [] for name in [*args.configs, *(p.name for p in peers)]}
    for _ in range(args.repeats):
        for dtype, measured in peaks.items():
            measured.append(gemm_peak(dtype))
        ours = [
            (n, lambda n=n: run_config(n, CONFIGS[n], data, args.work, args.steps, per_sample))
            for n in args.configs
        ]
        theirs = [(p.name, lambda p=p: sft_peers.run(p, setting, args.work)) for p in peers]
        for name, measure in sft_peers.alternate(ours, theirs):
            runs[name].append(measure())
            print(f"{name}: {json.dumps(runs[name][-1])}", flush=True)
    peak = {dtype: _median(values) for dtype, values in peaks.items()}
    results: dict = {}
    for name, measured in runs.items():
        middle = _median([m["samples_per_s"] for m in measured])
        row = min(measured, key=lambda r: abs(r["samples_per_s"] - middle))
        row["peak_rss_mb"] = max(m["peak_rss_mb"] for m in measured)
        row["samples_per_s_each_round"] = [m["samples_per_s"] for m in measured]
        if name in DTYPE:
            row["share_of_gemm_peak"] = round(row["training_flop_per_s"] / peak[DTYPE[name]], 4)
        results[name] = row
    ours_rows = {n: results[n] for n in args.configs}
    results["best"] = _best(ours_rows)
    reference = "padded" if "padded" in ours_rows else "default"
    base_runtime = ours_rows[reference]["train_runtime_s"] if reference in ours_rows else None
    results["ratios"] = {
        **{
            f"{n}_over_{reference}": round(base_runtime / row["train_runtime_s"], 3)
            for n, row in ours_rows.items()
            if n != reference and base_runtime
        },
        **sft_peers.ratios(ours_rows, {p.name: results[p.name] for p in peers}),
    }
    results["peers"] = {peer.name: peer.versions() for peer in peers}
    results["gemm_peak_flop_per_s"] = {dtype: round(value) for dtype, value in peak.items()}
    results["setting"] = {
        "model": "smollm2-135m-instruct",
        "batch": 4,
        "max_length": 512,
        "steps": args.steps,
        "rows": args.rows,
        "repeats": args.repeats,
        "mean_tokens_per_sample": round(per_sample["tokens"], 1),
        "training_flops_per_sample": per_sample["flops"],
        "gradient_checkpointing": False,
        "lora_rank": 8,
        "load_average_at_end": os.getloadavg(),
        "cpus": len(os.sched_getaffinity(0)),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _best(results: dict) -> str | None:
    """The fastest configuration whose late loss is within LOSS_TOLERANCE of the default fp32 run's."""
    base = results.get("default")
    if base is None:
        return None
    late = base["mean_loss_last_10"]
    close = [n for n, row in results.items() if abs(row["mean_loss_last_10"] - late) <= LOSS_TOLERANCE * late]
    return max(close, key=lambda name: results[name]["samples_per_s"])


if __name__ == "__main__":
    main()
