"""The peft tuners through `tk run`: AdaLoRA's budget callback runs inside the trainer, a
prompt-tuning checkpoint answers through `tk run infer --adapters` and is refused by
`tk run export --merge_lora` with the reason, a VeRA checkpoint merges."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import start

pytest.importorskip("tunekite_peft")
pytest.importorskip("tunekite_chatml")


def sft(model: Path, data: Path, out: Path, *extra: str) -> Path:
    start(
        "sft",
        [
            "--model", str(model), "--dataset", str(data), "--output_dir", str(out), "--add_version", "false",
            "--report_to", "none", "--gradient_checkpointing", "false", "--max_steps", "4",
            "--save_steps", "4", "--learning_rate", "1e-2", "--per_device_train_batch_size", "4",
            "--split_dataset_ratio", "0", *extra,
        ],
    )  # fmt: skip
    return out / "checkpoint-4"


def test_adalora_reallocates_its_budget_during_sft(model_dir, data_file, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    checkpoint = sft(model_dir, data_file, tmp_path / "run", "--tuner", "adalora", "--adalora_init_r", "4",
                     "--adalora_target_r", "2")  # fmt: skip
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    assert config["peft_type"] == "ADALORA" and config["total_step"] == 4
    assert config["rank_pattern"], "update_and_allocate never ran inside the trainer"


def test_prompt_tuning_infers_but_does_not_merge(model_dir, data_file, tmp_path, monkeypatch) -> None:
    from tunekite.api import ArgumentError

    monkeypatch.chdir(tmp_path)
    prompt = ["--tuner", "prompt_tuning", "--num_virtual_tokens", "4"]
    checkpoint = sft(model_dir, data_file, tmp_path / "run", *prompt)
    answers = tmp_path / "answers.jsonl"
    argv = ["--adapters", str(checkpoint), "--val_dataset", str(data_file), "--result_path", str(answers)]
    start("infer", [*argv, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    assert len(answers.read_text().splitlines()) == 2
    with pytest.raises(ArgumentError, match="PROMPT_TUNING adapter learns virtual tokens"):
        start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    assert not Path(f"{checkpoint}-merged").exists()


def test_vera_checkpoint_merges(model_dir, data_file, tmp_path, monkeypatch) -> None:
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    checkpoint = sft(model_dir, data_file, tmp_path / "run", "--tuner", "vera", "--vera_rank", "16")
    merged = start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert not any("vera" in name for name in model.state_dict())
