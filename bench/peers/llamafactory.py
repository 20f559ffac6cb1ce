"""LLaMA-Factory through `llamafactory-cli train CONFIG`: a config file and a dataset_info.json
per run, the results read from what it writes (train_results.json, trainer_log.jsonl,
predict_results.json, generated_predictions.jsonl)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from peers.envs import LLAMAFACTORY
from peers.setting import InferSetting, SftSetting

# LLaMA-Factory's own chatml variant for SmolLM2; default_system replaces its default text
# (which ends with a full stop) with ours.
TEMPLATE = "smollm2"
SHAREGPT_TAGS = {
    "role_tag": "role",
    "content_tag": "content",
    "user_tag": "user",
    "assistant_tag": "assistant",
    "system_tag": "system",
}


def sft_command(setting: SftSetting, out: Path) -> list[str]:
    config = {
        **_common(setting.model_dir, setting.system, setting.data, out),
        "do_train": True,
        "dataset": "bench",
        "finetuning_type": "lora",
        "lora_rank": setting.lora_rank,
        "lora_alpha": setting.lora_alpha,
        "lora_dropout": setting.lora_dropout,
        "lora_target": "all",
        "cutoff_len": setting.max_length,
        "per_device_train_batch_size": setting.batch,
        "gradient_accumulation_steps": 1,
        "max_steps": setting.steps,
        "learning_rate": setting.learning_rate,
        "lr_scheduler_type": setting.lr_scheduler,
        "warmup_steps": 0,
        "weight_decay": setting.weight_decay,
        "adam_beta2": setting.adam_beta2,
        "max_grad_norm": setting.max_grad_norm,
        "seed": setting.seed,
        "bf16": False,
        "fp16": False,
        # LLaMA-Factory checkpoints activations unless told not to; the setting has none
        "disable_gradient_checkpointing": True,
        "logging_steps": 1,
        "save_strategy": "no",
        "plot_loss": False,
    }
    return _command(config, out)


def sft_result(out: Path) -> tuple[float, float]:
    """(train runtime in seconds, loss at the last logged step)."""
    runtime = json.loads((out / "train_results.json").read_text())["train_runtime"]
    logs = [json.loads(line) for line in (out / "trainer_log.jsonl").read_text().splitlines()]
    return runtime, [row["loss"] for row in logs if "loss" in row][-1]


def infer_command(setting: InferSetting, out: Path) -> list[str]:
    """Greedy `do_predict` of every prompt, `setting.batch` at a time, in `setting.dtype`."""
    prompts = out.parent / f"{out.name}-prompts.jsonl"
    rows = [json.loads(line) for line in setting.prompts.read_text().splitlines()]
    # its sharegpt reader wants user/assistant pairs: the reply to predict is left empty
    prompts.write_text(
        "".join(
            json.dumps({"messages": [*r["messages"], {"role": "assistant", "content": ""}]}) + "\n"
            for r in rows
        )
    )
    config = {
        **_common(setting.model_dir, setting.system, prompts, out),
        "do_predict": True,
        "predict_with_generate": True,
        "eval_dataset": "bench",
        "finetuning_type": "lora",
        "per_device_eval_batch_size": setting.batch,
        "max_new_tokens": setting.new_tokens,
        "do_sample": False,
        "bf16": setting.dtype == "bfloat16",
        "infer_dtype": setting.dtype,
    }
    return _command(config, out)


def infer_result(out: Path) -> tuple[float, list[str]]:
    """(generation seconds as LLaMA-Factory reports them, the generated texts)."""
    runtime = json.loads((out / "predict_results.json").read_text())["predict_runtime"]
    lines = (out / "generated_predictions.jsonl").read_text().splitlines()
    return runtime, [json.loads(line)["predict"] for line in lines]


def _common(model_dir: Path, system: str, data: Path, out: Path) -> dict[str, Any]:
    info = out.parent / f"{out.name}-data"
    info.mkdir(parents=True, exist_ok=True)
    entry = {"file_name": str(data.resolve()), "formatting": "sharegpt", "columns": {"messages": "messages"}}
    (info / "dataset_info.json").write_text(json.dumps({"bench": {**entry, "tags": SHAREGPT_TAGS}}, indent=2))
    return {
        "model_name_or_path": str(model_dir),
        "stage": "sft",
        "template": TEMPLATE,
        "default_system": system,
        "dataset_dir": str(info),
        "overwrite_cache": True,
        "dataloader_num_workers": 0,
        "output_dir": str(out),
        "overwrite_output_dir": True,
        "report_to": "none",
        "use_cpu": True,  # transformers refuses bf16 on a CPU unless told; the venv's torch is CPU-only
    }


def _command(config: dict[str, Any], out: Path) -> list[str]:
    # JSON written as YAML: llamafactory-cli 0.9.5's own .json reader passes a Path to json.load
    path = out.parent / f"{out.name}.yaml"
    path.write_text(json.dumps(config, indent=2))
    return [str(LLAMAFACTORY.bin / "llamafactory-cli"), "train", str(path)]
