"""`--rlhf_type rm`: a sequence-classification checkpoint that transformers loads and that
scores chosen above rejected after training on an easy set."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tunekite.api import checkpoint_description, registry, start
from tunekite.testing import save_tiny_chat_model


@pytest.mark.parametrize("tuner", ["full", "lora"])
def test_reward_model_checkpoint_scores_chosen_above_rejected(tmp_path, tuner):
    from transformers import AutoModelForSequenceClassification

    model_dir = save_tiny_chat_model(tmp_path / "tiny-chat")
    rows = [{"prompt": f"rate {i}", "chosen": "yes", "rejected": "no no no"} for i in range(16)]
    data = tmp_path / "pairs.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    argv = [
        "--rlhf_type", "rm",
        "--task_type", "seq_cls", "--num_labels", "1",
        "--tuner", tuner,
        "--model", str(model_dir),
        "--template", "chatml",
        "--dataset", str(data),
        "--output_dir", str(out),
        "--add_version", "false",
        "--report_to", "none",
        "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false",
        "--logging_steps", "1",
        "--save_steps", "8",
        "--per_device_train_batch_size", "4",
        "--max_length", "48",
        "--max_steps", "8",
        "--learning_rate", "1e-3",
    ]  # fmt: skip
    result = start("rlhf", argv)
    logged = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    assert all("accuracy" in r and "margin" in r for r in logged if "loss" in r)

    checkpoint: Path = result["last_checkpoint"]
    assert checkpoint == out / "checkpoint-8"
    assert checkpoint_description(checkpoint)["trainer"] == "rm"
    if tuner == "full":
        model = AutoModelForSequenceClassification.from_pretrained(checkpoint)
        assert model.config.num_labels == 1
    else:  # an adapter with its trained score head, nothing else
        assert not (checkpoint / "model.safetensors").exists()

    # What ppo/grpo --reward_model loads: the reward_model reward.
    spec = registry("rewards").get("reward_model")
    reward = spec.load()(dataclasses.replace(spec.default_args(), reward_model_path=str(checkpoint)))
    prompt = "<|im_start|>user\nrate 99<|im_end|>\n<|im_start|>assistant\n"
    good, bad = reward(["yes<|im_end|>", "no no no<|im_end|>"], prompts=[prompt, prompt])
    assert good > bad
