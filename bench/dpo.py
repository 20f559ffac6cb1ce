"""DPO on SmolLM2-135M: the chosen-vs-rejected reward accuracy curve.

A small generated preference set: short questions (capitals, colours, opposites, sums)
whose chosen reply answers helpfully and whose rejected reply refuses or answers wrongly.
LoRA, beta 0.1 (the reference's default, rpo_alpha 1), batch 4, `tk run rlhf
--rlhf_type dpo` in its own process, with a held-out set evaluated every 10 steps. The
results file records per-step `rewards/accuracies`, `rewards/margins` and loss, the eval
curve, seconds per step, and whether the accuracy rose above its first logged value
(the issue's criterion; the first logged step is the untrained policy against itself,
so the mean of the last 5 steps and the held-out accuracy are recorded as well).
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

SETTING = {
    "model": "smollm2-135m-instruct",
    "tuner": "lora",
    "per_device_train_batch_size": 4,
    "learning_rate": 1e-4,
    "beta": 0.1,
    "max_length": 128,
    "train_rows": 120,
    "val_rows": 24,
}
CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Germany", "Berlin"), ("Egypt", "Cairo"), ("Canada", "Ottawa"), ("Kenya", "Nairobi"),
    ("Peru", "Lima"), ("Norway", "Oslo"), ("Greece", "Athens"), ("Chile", "Santiago"),
    ("Cuba", "Havana"), ("Poland", "Warsaw"), ("Ireland", "Dublin"),
]  # fmt: skip
OPPOSITES = [
    ("hot", "cold"), ("big", "small"), ("fast", "slow"), ("up", "down"), ("light", "dark"),
    ("early", "late"), ("happy", "sad"), ("open", "closed"), ("full", "empty"), ("young", "old"),
    ("strong", "weak"), ("wet", "dry"),
]  # fmt: skip
COLOURS = [
    ("the sky", "blue"),
    ("grass", "green"),
    ("snow", "white"),
    ("a banana", "yellow"),
    ("coal", "black"),
]
REFUSALS = [
    "I don't want to answer that.",
    "Why would I know? Ask someone else.",
    "No idea, and I don't care.",
    "That is not my problem.",
]


def generate_rows(count: int, seed: int) -> list[dict]:
    """Questions with a helpful chosen reply and a refusing or wrong rejected one."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        kind = rng.randrange(4)
        if kind == 0:
            country, city = rng.choice(CAPITALS)
            question, answer = f"What is the capital of {country}?", f"The capital of {country} is {city}."
            wrong = f"The capital of {country} is {rng.choice([c for _, c in CAPITALS if c != city])}."
        elif kind == 1:
            word, opposite = rng.choice(OPPOSITES)
            question, answer = f"What is the opposite of {word}?", f"The opposite of {word} is {opposite}."
            wrong = f"The opposite of {word} is {word}."
        elif kind == 2:
            thing, colour = rng.choice(COLOURS)
            question, answer = f"What colour is {thing}?", f"{thing.capitalize()} is {colour}."
            wrong = f"{thing.capitalize()} is {rng.choice(['purple', 'orange', 'pink'])}."
        else:
            a, b = rng.randint(1, 20), rng.randint(1, 20)
            question, answer = f"What is {a} plus {b}?", f"{a} plus {b} is {a + b}."
            wrong = f"{a} plus {b} is {a + b + rng.randint(1, 5)}."
        rejected = rng.choice(REFUSALS) if rng.random() < 0.5 else wrong
        rows.append({
            "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}],
            "rejected_response": rejected,
        })  # fmt: skip
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def run_dpo(work: Path, steps: int, dtype: str) -> dict:
    train = write_jsonl(work / "train.jsonl", generate_rows(SETTING["train_rows"], seed=0))
    val = write_jsonl(work / "val.jsonl", generate_rows(SETTING["val_rows"], seed=1))
    out = work / "run"
    argv = [
        sys.executable, "-m", "tunekite", "run", "rlhf",
        "--rlhf_type", "dpo",
        "--model", SETTING["model"],
        "--tuner", SETTING["tuner"],
        "--dataset", str(train),
        "--val_dataset", str(val),
        "--per_device_train_batch_size", str(SETTING["per_device_train_batch_size"]),
        "--per_device_eval_batch_size", "8",
        "--learning_rate", str(SETTING["learning_rate"]),
        "--beta", str(SETTING["beta"]),
        "--max_length", str(SETTING["max_length"]),
        "--torch_dtype", dtype,
        "--max_steps", str(steps),
        "--logging_steps", "1",
        "--eval_strategy", "steps",
        "--eval_steps", "10",
        "--save_strategy", "no",
        "--report_to", "none",
        "--gradient_checkpointing", "false",
        "--dataloader_num_workers", "0",
        "--output_dir", str(out),
        "--add_version", "false",
        "--overwrite_output_dir", "true",
    ]  # fmt: skip
    start = time.perf_counter()
    with (work / "dpo.log").open("w") as log:
        child = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"tk run rlhf failed, see {work / 'dpo.log'}")
    wall = time.perf_counter() - start
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    train_steps = [r for r in logs if "rewards/accuracies" in r]
    evals = [r for r in logs if "eval_rewards/accuracies" in r]
    summary = next(r for r in logs if "train_runtime" in r)
    accuracy = [round(r["rewards/accuracies"], 4) for r in train_steps]
    head, tail = accuracy[:5], accuracy[-5:]
    return {
        "steps": len(train_steps),
        "seconds_per_step": round(summary["train_runtime"] / max(1, len(train_steps)), 2),
        "train_runtime_s": round(summary["train_runtime"], 1),
        "wall_s_including_load": round(wall, 1),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "accuracy_curve": accuracy,
        "margin_curve": [round(r["rewards/margins"], 4) for r in train_steps],
        "loss_curve": [round(r["loss"], 4) for r in train_steps],
        "eval": [
            {
                "step": r["step"],
                "accuracy": round(r["eval_rewards/accuracies"], 4),
                "margin": round(r["eval_rewards/margins"], 4),
                "loss": round(r["eval_loss"], 4),
            }
            for r in evals
        ],
        "first_accuracy": accuracy[0] if accuracy else None,
        "last_accuracy": accuracy[-1] if accuracy else None,
        "mean_accuracy_first_5": round(sum(head) / len(head), 4) if head else None,
        "mean_accuracy_last_5": round(sum(tail) / len(tail), 4) if tail else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/dpo.json"))
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--dtype", default="float32", choices=["bfloat16", "float32"])
    parser.add_argument("--work", type=Path, default=Path("output/bench-dpo"))
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    result = run_dpo(args.work, args.steps, args.dtype)
    result["raised_above_first"] = (
        result["first_accuracy"] is not None and result["mean_accuracy_last_5"] > result["first_accuracy"]
    )
    results = {"setting": {**SETTING, "steps": args.steps, "torch_dtype": args.dtype}, "dpo": result}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    if not result["raised_above_first"]:
        raise SystemExit("DPO did not raise the reward accuracy above its first logged value")


if __name__ == "__main__":
    main()
