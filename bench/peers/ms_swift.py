"""ms-swift through `swift sft` and `swift infer`, with the command line that matched ours in
/work/shared/CPU-NOTES.md (it needs `--model_type llama` for a local Llama folder, and sets
fp16 on a CPU unless told not to)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from peers.envs import SWIFT
from peers.setting import InferSetting, SftSetting


def sft_command(setting: SftSetting, out: Path) -> list[str]:
    return [
        str(SWIFT.bin / "swift"),
        "sft",
        *_model(setting.model_dir, setting.system),
        *("--dataset", str(setting.data), "--split_dataset_ratio", "0"),
        *(
            "--tuner_type",
            "lora",
            "--lora_rank",
            str(setting.lora_rank),
            "--lora_alpha",
            str(setting.lora_alpha),
        ),
        *("--lora_dropout", str(setting.lora_dropout), "--target_modules", "all-linear"),
        *(
            "--torch_dtype",
            "float32",
            "--fp16",
            "false",
            "--bf16",
            "false",
            "--gradient_checkpointing",
            "false",
        ),
        *("--max_length", str(setting.max_length), "--per_device_train_batch_size", str(setting.batch)),
        *("--gradient_accumulation_steps", "1", "--max_steps", str(setting.steps)),
        *("--learning_rate", str(setting.learning_rate), "--lr_scheduler_type", setting.lr_scheduler),
        *("--warmup_steps", "0", "--weight_decay", str(setting.weight_decay)),
        *("--adam_beta2", str(setting.adam_beta2), "--max_grad_norm", str(setting.max_grad_norm)),
        *(
            "--seed",
            str(setting.seed),
            "--eval_strategy",
            "no",
            "--save_strategy",
            "no",
            "--logging_steps",
            "1",
        ),
        *("--dataloader_num_workers", "0", "--dataset_num_proc", "1", "--report_to", "none"),
        *("--output_dir", str(out), "--add_version", "false", "--check_model", "false"),
    ]


def sft_result(out: Path) -> tuple[float, float]:
    """(train runtime in seconds, loss at the last logged step) from its logging.jsonl."""
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    runtime = next(row["train_runtime"] for row in logs if "train_runtime" in row)
    return float(runtime), [float(row["loss"]) for row in logs if "loss" in row][-1]


def infer_command(setting: InferSetting, out: Path) -> list[str]:
    """Greedy `swift infer` of every prompt on its transformers backend, `setting.batch` at a time."""
    out.mkdir(parents=True, exist_ok=True)
    return [
        str(SWIFT.bin / "swift"),
        "infer",
        *_model(setting.model_dir, setting.system),
        *("--val_dataset", str(setting.prompts), "--infer_backend", "transformers"),
        *("--max_batch_size", str(setting.batch), "--max_new_tokens", str(setting.new_tokens)),
        *("--temperature", "0", "--torch_dtype", setting.dtype, "--result_path", str(out / "result.jsonl")),
    ]


def infer_result(log: Path) -> tuple[float, int]:
    """(generation seconds, completion tokens) as `swift infer` prints them (its InferStats line)."""
    marker = "{'num_prompt_tokens'"
    stats = [line[line.index(marker) :] for line in log.read_text().splitlines() if marker in line]
    if not stats:
        raise SystemExit(f"ms-swift: no InferStats line in {log}")
    numbers = ast.literal_eval(stats[-1])
    return numbers["runtime"], numbers["num_generated_tokens"]


def _model(model_dir: Path, system: str) -> list[str]:
    return ["--model", str(model_dir), "--model_type", "llama", "--template", "chatml", "--system", system]
