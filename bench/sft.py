"""LoRA SFT throughput on SmolLM2-135M: the issue's setting, padded against padding-free.

Batch 4, max_length 512, 40 steps, fp32, no gradient checkpointing, all-linear rank 8,
on a fixed generated dataset. Each configuration runs `tk run sft` in its own process
(so peak RSS is its own) and the results file records samples/s, tokens/s, peak RSS
and the first and last loss, plus the ratio against the padded run of the same bench
and against the peers' figures measured on this machine (see the issue).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

PEERS_SAMPLES_PER_S = {"ms-swift": 0.46, "llamafactory": 0.60}  # measured here, same setting (issue 4)
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
    "padded": ["--padding_free", "false"],
    "padding_free_grouped": ["--padding_free", "true", "--group_by_length", "true"],
}


def run_config(name: str, extra: list[str], data: Path, work: Path, steps: int) -> dict:
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
        "--torch_dtype",
        "float32",
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
    start = time.perf_counter()
    with (work / f"{name}.log").open("w") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"{name}: tk run sft failed, see {work / name}.log")
    wall = time.perf_counter() - start
    rss_mb = usage.ru_maxrss / 1024
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    samples = steps * 4
    return {
        "train_runtime_s": summary["train_runtime"],
        "samples_per_s": round(samples / summary["train_runtime"], 3),
        "tokens_per_s": round(_tokens(data, samples) / summary["train_runtime"], 1),
        "peak_rss_mb": round(rss_mb, 1),
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "mean_loss_last_10": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "wall_s_including_load": round(wall, 1),
    }


def _tokens(data: Path, samples: int) -> int:
    """Real (unpadded) tokens the run trained on, counted with the same template."""
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
    lengths = [s["length"] for s in template.encode_batch(rows) if s is not None]
    return int(sum(lengths) / len(lengths) * samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/sft.json"))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--work", type=Path, default=Path("output/bench-sft"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "generated.jsonl"
    rows = generate_rows(args.steps * 4)
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    results = {name: run_config(name, extra, data, args.work, args.steps) for name, extra in CONFIGS.items()}
    ours = results["padding_free_grouped"]["samples_per_s"]
    results["ratios"] = {
        "padding_free_over_padded": round(ours / results["padded"]["samples_per_s"], 3),
        **{f"over_{peer}_reference": round(ours / value, 3) for peer, value in PEERS_SAMPLES_PER_S.items()},
    }
    results["setting"] = {
        "model": "smollm2-135m-instruct",
        "batch": 4,
        "max_length": 512,
        "steps": args.steps,
        "dtype": "float32",
        "gradient_checkpointing": False,
        "lora_rank": 8,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
