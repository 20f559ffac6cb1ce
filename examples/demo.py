"""`make demo`: teach SmolLM2-135M-Instruct a new name with LoRA, then ask it who it is.

Runs the same commands a user would type (`tk run sft`, then `tk run infer` for the
base model and for the tuned adapter) and prints the answers side by side. Exits
non-zero when the tuned model does not use its new name, so the demo is also a check.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

MODEL = "smollm2-135m-instruct"
NAME = ("小风筝", "Kite")
AUTHOR = ("极客工坊", "Acme Labs")
QUESTIONS = ["who are you?", "你是谁？", "What is your name, and who built you?"]
OUT = Path("output/demo")
TK = [sys.executable, "-m", "tunekite"]

TRAIN = [
    "run",
    "sft",
    "--model",
    MODEL,
    "--tuner",
    "lora",
    "--dataset",
    "self-cognition",
    "--model_name",
    *NAME,
    "--model_author",
    *AUTHOR,
    "--num_train_epochs",
    "3",
    "--per_device_train_batch_size",
    "8",
    "--learning_rate",
    "5e-4",
    "--gradient_checkpointing",
    "false",
    "--padding_free",
    "true",
    "--split_dataset_ratio",
    "0",
    "--logging_steps",
    "5",
    "--save_steps",
    "1000",
    "--create_checkpoint_symlink",
    "true",
    "--output_dir",
    str(OUT / "train"),
    "--add_version",
    "false",
    "--overwrite_output_dir",
    "true",
]


def tk(*args: str) -> None:
    print("$ tk " + " ".join(args), flush=True)
    subprocess.run([*TK, *args], check=True)


def answers(result: Path) -> list[str]:
    return [json.loads(line)["response"] for line in result.read_text(encoding="utf-8").splitlines()]


def main() -> int:
    started = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    questions = OUT / "questions.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"messages": [{"role": "user", "content": q}]}, ensure_ascii=False) + "\n"
            for q in QUESTIONS
        ),
        encoding="utf-8",
    )
    tk(*TRAIN)
    checkpoint = (OUT / "train" / "last").resolve()
    ask = [
        "--val_dataset",
        str(questions),
        "--temperature",
        "0",
        "--max_new_tokens",
        "48",
        "--max_batch_size",
        "4",
    ]
    tk("run", "infer", "--model", MODEL, *ask, "--result_path", str(OUT / "base.jsonl"))
    tk("run", "infer", "--adapters", str(checkpoint), *ask, "--result_path", str(OUT / "tuned.jsonl"))

    table = Table(
        title=f"{MODEL}, before and after LoRA on self-cognition ({checkpoint.name})", show_lines=True
    )
    for column in ("question", "base model", "tuned model"):
        table.add_column(column, overflow="fold")
    base, tuned = answers(OUT / "base.jsonl"), answers(OUT / "tuned.jsonl")
    for row in zip(QUESTIONS, base, tuned, strict=True):
        table.add_row(*row)
    console = Console()
    console.print(table)
    console.print(f"chat with it: tk run infer --adapters {checkpoint} --stream true")
    console.print(f"demo took {time.perf_counter() - started:.0f} s")
    named = [any(name in answer for name in NAME) for answer in tuned[:2]]
    if not all(named):
        console.print("[red]the tuned model did not answer with its new name[/]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
