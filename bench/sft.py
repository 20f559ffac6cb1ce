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

On a CUDA GPU (`--device auto` finds one; `bench/gpu.sh` is the script for a lent machine)
the configurations are `GPU_CONFIGS` at batches 4 and 32, the results go to
`bench/results/sft-gpu.json` with the GPU's peak reserved memory (`memory(GiB)` from the
run's log) beside peak RSS, and no peer runs: their environments hold a CPU torch.
`--model_dir DIR --random_weights` trains SmolLM2-135M's architecture with seeded random
weights from DIR's config and tokenizer, for a machine the 98 MB GGUF cannot travel to.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from peers import sft_peers
from peers.envs import PEERS, Peer, available
from peers.process import bench_env, run_measured

LOSS_TOLERANCE = 0.05
NAMED_MODEL = "smollm2-135m-instruct"
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
GPU_CONFIGS = {
    "default": ["--torch_dtype", "float32"],  # padded and length-grouped: TuneKite's GPU default
    "padding_free": ["--torch_dtype", "float32", "--padding_free", "true"],
    "bf16_autocast": ["--torch_dtype", "float32", "--bf16", "true"],
    "bf16_autocast_padding_free": ["--torch_dtype", "float32", "--bf16", "true", "--padding_free", "true"],
    "bf16_weights": ["--torch_dtype", "bfloat16"],
}
DEVICE_CONFIGS = {"cpu": CONFIGS, "cuda": GPU_CONFIGS}
DEVICE_BATCHES = {"cpu": [4], "cuda": [4, 32]}
CONFIG_ENV = {"glibc_malloc": {"TUNEKITE_ALLOCATOR": "system"}}
DTYPE = {
    name: "bfloat16" if {"bfloat16", "--bf16"} & set(a) else "float32"
    for name, a in {**CONFIGS, **GPU_CONFIGS}.items()
}
"""The dtype each configuration's matrix multiplies run in, for its share of that dtype's GEMM peak."""


@dataclass(frozen=True)
class Target:
    """What every configuration of one bench run trains on, and where."""

    device: str
    model: str  # a model name or folder for `tk run sft --model`
    data: Path
    work: Path
    steps: int
    per_sample: dict  # the mean tokens and model FLOPs of a training sample
    batches: tuple[int, ...] = (4,)

    @property
    def model_args(self) -> list[str]:
        """A folder is told its template; the bundled name knows it."""
        return ["--model", self.model] + (["--template", "smollm2"] if self.model != NAMED_MODEL else [])


def run_config(name: str, extra: list[str], target: Target, batch: int = 4) -> dict:
    """One `tk run sft` of configuration `name` at `batch`, its runtime turned into tokens/s
    and FLOP/s by the target's per-sample figures."""
    key = row_key(name, batch, target)
    out = target.work / key
    argv = [
        sys.executable,
        "-m",
        "tunekite",
        "run",
        "sft",
        *target.model_args,
        "--tuner",
        "lora",
        "--dataset",
        str(target.data),
        "--max_length",
        "512",
        "--per_device_train_batch_size",
        str(batch),
        "--max_steps",
        str(target.steps),
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
    log = target.work / f"{key}.log"
    measured = run_measured(argv, log, env=bench_env(target.device, **CONFIG_ENV.get(name, {})))
    if measured.returncode != 0:
        raise SystemExit(f"{key}: tk run sft failed, see {log}")
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    samples = target.steps * batch
    log_lines = log.read_text().splitlines()
    batching = next((line for line in log_lines if "batches:" in line), "")
    allocator = next((line for line in log_lines if "allocator:" in line), "")
    gpu_memory = [r["memory(GiB)"] for r in logs if "memory(GiB)" in r]
    return {
        "batches": batching.strip(),
        "allocator": allocator.strip(),
        "train_runtime_s": summary["train_runtime"],
        "samples_per_s": round(samples / summary["train_runtime"], 3),
        "tokens_per_s": round(target.per_sample["tokens"] * samples / summary["train_runtime"], 1),
        "training_flop_per_s": round(target.per_sample["flops"] * samples / summary["train_runtime"]),
        "peak_rss_mb": measured.peak_rss_mb,
        **({"peak_gpu_reserved_gib": max(gpu_memory)} if gpu_memory else {}),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "mean_loss_last_10": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "wall_s_including_load": measured.wall_s,
    }


def _encoded(data: Path, model: str) -> list[dict]:
    """The samples the run trains on, encoded with the same tokenizer and template."""
    from tunekite.arguments.groups import ModelArguments, TemplateArguments
    from tunekite.models.loader import load_tokenizer
    from tunekite.plugin_host import get_host
    from tunekite.templates.resolve import build_template

    host = get_host()
    tokenizer = load_tokenizer(ModelArguments(model=model), host=host)
    template = build_template(
        tokenizer, TemplateArguments(max_length=512, template="smollm2"), model, quiet=True, host=host
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


def gemm_peak(dtype_name: str, device: str = "cpu", repeats: int = 5) -> float:
    """Best FLOP/s of a square matmul in `dtype_name` (2048 on a CPU with torch's threads,
    8192 on a GPU, timed to the end of its kernel)."""
    import torch

    size = 2048 if device == "cpu" else 8192
    dtype = getattr(torch, dtype_name)
    a, b = (torch.randn(size, size, dtype=dtype, device=device) for _ in range(2))
    wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    torch.matmul(a, b)
    wait()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b)
        wait()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def row_key(name: str, batch: int, target: Target) -> str:
    """A row's name: the configuration's (or peer's), with the batch where the run has several."""
    return name if len(target.batches) == 1 else f"{name}_b{batch}"


def random_weights(source: Path, folder: Path, seed: int = 0) -> Path:
    """`folder`: `source`'s config, tokenizer and chat template with weights drawn anew
    (transformers' own initialisation, seeded), saved in fp32 as the bundled folder is."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    config = AutoConfig.from_pretrained(source)
    AutoModelForCausalLM.from_config(config, dtype=torch.float32).save_pretrained(folder)
    for file in source.iterdir():  # the tokenizer, chat template and generation config
        weights_index = file.name.endswith(".index.json")
        if (
            file.suffix in (".json", ".jinja", ".model", ".txt")
            and file.name != "config.json"
            and not weights_index
        ):
            shutil.copy(file, folder / file.name)
    return folder


def pick_device(asked: str) -> str:
    if asked != "auto":
        return asked
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def main() -> None:
    args = _parser().parse_args()
    device = pick_device(args.device)
    configs = args.configs or list(DEVICE_CONFIGS[device])
    foreign = [name for name in configs if name not in DEVICE_CONFIGS[device]]
    if foreign:
        known = ", ".join(DEVICE_CONFIGS[device])
        raise SystemExit(f"--configs {' '.join(foreign)}: not measured on {device} (there: {known})")
    wanted = args.peers if args.peers is not None else [p.name for p in PEERS] if device == "cpu" else []
    if device != "cpu" and wanted:
        raise SystemExit(
            "--peers: the peers' environments (make bench-peers) hold a CPU torch; none on a GPU"
        )
    peers = available(wanted)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "generated.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in generate_rows(args.rows)) + "\n", encoding="utf-8")
    model = _model(args)
    encoded = _encoded(data, model)
    per_sample = {
        "tokens": sum(s["length"] for s in encoded) / len(encoded),
        "flops": training_flops(encoded) / len(encoded),
    }
    batches = tuple(args.batches or DEVICE_BATCHES[device])
    target = Target(device, model, data, args.work, args.steps, per_sample, batches)
    runs, peaks = _measure(configs, peers, target, args.repeats)
    peak = {dtype: _median(values) for dtype, values in peaks.items()}
    results = _rows(runs, peak, {row_key(n, b, target): DTYPE[n] for n in configs for b in batches})
    results["ratios"] = {}
    for batch in batches:
        ours_rows = {n: results[row_key(n, batch, target)] for n in configs}
        best = _best(ours_rows)
        results["best" + row_key("", batch, target)] = best and row_key(best, batch, target)
        peer_rows = {p.name: results[row_key(p.name, batch, target)] for p in peers}
        results["ratios"] |= _ratios(ours_rows, peer_rows, batch, target)
    results["peers"] = {peer.name: peer.versions() for peer in peers}
    results["gemm_peak_flop_per_s"] = {dtype: round(value) for dtype, value in peak.items()}
    results["setting"] = {
        "device": _device_name(device),
        "model": model if not args.random_weights else f"{model} (random weights)",
        "batch": batches[0] if len(batches) == 1 else list(batches),
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
    output = args.output or Path("bench/results") / ("sft.json" if device == "cpu" else "sft-gpu.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--output", type=Path, help="default bench/results/sft.json, or sft-gpu.json on a GPU"
    )
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all configurations, alternating")
    parser.add_argument(
        "--configs", nargs="+", choices=sorted({*CONFIGS, *GPU_CONFIGS}), help="default: all of the device's"
    )
    parser.add_argument("--batches", nargs="+", type=int, help="default: 4 on a CPU, 4 and 32 on a GPU")
    parser.add_argument("--work", type=Path, default=Path("output/bench-sft"))
    parser.add_argument(
        "--model_dir", type=Path, help=f"a SmolLM2-135M folder to train instead of the bundled {NAMED_MODEL}"
    )
    parser.add_argument(
        "--random_weights",
        action="store_true",
        help="train --model_dir's (or the bundled folder's) architecture with seeded random weights",
    )
    parser.add_argument(
        "--peers", nargs="*", help="peers to run beside ours (default: both on a CPU, none on a GPU)"
    )
    return parser


def _measure(
    configs: list[str], peers: list[Peer], target: Target, repeats: int
) -> tuple[dict[str, list[dict]], dict[str, list[float]]]:
    """Every row's runs, `repeats` rounds of ours and the peers taking turns at each batch,
    and the GEMM peak of each dtype the configurations use, measured once a round."""
    peaks: dict[str, list[float]] = {dtype: [] for dtype in {DTYPE[n] for n in configs}}
    runs: dict[str, list[dict]] = {}
    model_dir = None if target.model == NAMED_MODEL else Path(target.model)
    config_args = DEVICE_CONFIGS[target.device]
    for _ in range(repeats):
        for dtype, measured in peaks.items():
            measured.append(gemm_peak(dtype, target.device))
        for batch in target.batches:
            setting = sft_peers.setting(target.data, target.steps, batch, model_dir)
            ours = [
                (row_key(n, batch, target), lambda n=n, b=batch: run_config(n, config_args[n], target, b))
                for n in configs
            ]
            theirs = [
                (row_key(p.name, batch, target), lambda p=p, s=setting: sft_peers.run(p, s, target.work))
                for p in peers
            ]
            for key, measure in sft_peers.alternate(ours, theirs):
                runs.setdefault(key, []).append(measure())
                print(f"{key}: {json.dumps(runs[key][-1])}", flush=True)
    return runs, peaks


def _ratios(ours: dict[str, dict], peers: dict[str, dict], batch: int, target: Target) -> dict[str, float]:
    """At one batch: each configuration over the reference (padded where it ran, else the
    default) and over each peer, keyed by row names."""
    keyed = {row_key(n, batch, target): row for n, row in ours.items()}
    reference = row_key("padded" if "padded" in ours else "default", batch, target)
    base_runtime = keyed[reference]["train_runtime_s"] if reference in keyed else None
    own = {
        f"{key}_over_{reference}": round(base_runtime / row["train_runtime_s"], 3)
        for key, row in keyed.items()
        if key != reference and base_runtime
    }
    return own | sft_peers.ratios(keyed, peers)


def _model(args: argparse.Namespace) -> str:
    """What `tk run sft --model` gets: the bundled name, a folder, or a random-weight copy."""
    if not args.random_weights:
        return str(args.model_dir) if args.model_dir else NAMED_MODEL
    source = args.model_dir
    if source is None:
        from tunekite_gguf.named import smollm2_folder

        source = smollm2_folder()
    return str(random_weights(source, args.work / "random-weights"))


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device == "cuda" else f"cpu ({len(os.sched_getaffinity(0))} cores)"


def _rows(runs: dict[str, list[dict]], peak: dict[str, float], dtypes: dict[str, str]) -> dict[str, dict]:
    """Each row's median round (by samples/s), with the peak RSS of all rounds, every round's
    samples/s and, for ours, the share of the GEMM peak in its dtype."""
    results = {}
    for key, measured in runs.items():
        middle = _median([m["samples_per_s"] for m in measured])
        row = min(measured, key=lambda r: abs(r["samples_per_s"] - middle))
        row["peak_rss_mb"] = max(m["peak_rss_mb"] for m in measured)
        row["samples_per_s_each_round"] = [m["samples_per_s"] for m in measured]
        if key in dtypes:
            row["share_of_gemm_peak"] = round(row["training_flop_per_s"] / peak[dtypes[key]], 4)
        results[key] = row
    return results


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
