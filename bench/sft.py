"""LoRA SFT throughput on SmolLM2-135M: TuneKite's configurations beside ms-swift and LLaMA-Factory.

Batch 4, max_length 512, 40 steps, fp32, no gradient checkpointing, all-linear rank 8,
on a fixed generated 2,000-row dataset. Each configuration runs `tk run sft` in its own
process, and each peer its own command line (`swift sft`, `llamafactory-cli train`, from
`make bench-peers`) with the same model folder, data and settings, alternately with ours.
The results file records samples/s, tokens/s, peak RSS of the process tree and the first
and last loss per run, the peers' versions, and every ratio of ours to a peer of this run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from peers import sft_peers
from peers.envs import PEERS, available
from peers.process import bench_env, run_measured

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
    # grouping shows in padded batches (less padding); padding-free batches carry none
    "padded_grouped": ["--padding_free", "false", "--group_by_length", "true"],
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
    measured = run_measured(argv, work / f"{name}.log", env=bench_env())
    if measured.returncode != 0:
        raise SystemExit(f"{name}: tk run sft failed, see {work / name}.log")
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in logs if "loss" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    samples = steps * 4
    return {
        "train_runtime_s": summary["train_runtime"],
        "samples_per_s": round(samples / summary["train_runtime"], 3),
        "tokens_per_s": round(_tokens(data, samples) / summary["train_runtime"], 1),
        "peak_rss_mb": measured.peak_rss_mb,
        "first_loss": losses[0],
        "last_loss": losses[-1],
        "mean_loss_last_10": round(sum(losses[-10:]) / len(losses[-10:]), 4),
        "wall_s_including_load": measured.wall_s,
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
    parser.add_argument("--rows", type=int, default=2000)
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
    setting = sft_peers.setting(data, args.steps)
    ours = [(name, lambda n=name: run_config(n, CONFIGS[n], data, args.work, args.steps)) for name in CONFIGS]
    theirs = [(peer.name, lambda p=peer: sft_peers.run(p, setting, args.work)) for peer in peers]
    results: dict = {}
    for name, measure in sft_peers.alternate(ours, theirs):
        results[name] = measure()
        print(f"{name}: {json.dumps(results[name])}", flush=True)
    padded = results["padded"]["samples_per_s"]
    results["ratios"] = {
        "padding_free_over_padded": round(results["padding_free_grouped"]["samples_per_s"] / padded, 3),
        "grouped_over_padded": round(results["padded_grouped"]["samples_per_s"] / padded, 3),
        **sft_peers.ratios({n: results[n] for n in CONFIGS}, {p.name: results[p.name] for p in peers}),
    }
    results["peers"] = {peer.name: peer.versions() for peer in peers}
    results["setting"] = {
        "model": "smollm2-135m-instruct",
        "batch": 4,
        "max_length": 512,
        "steps": args.steps,
        "rows": args.rows,
        "dtype": "float32",
        "gradient_checkpointing": False,
        "lora_rank": 8,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
