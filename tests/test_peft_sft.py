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


def test_adalora_reallocates_its_budget_during_sft(tiny_sft) -> None:
    checkpoint = tiny_sft("--tuner", "adalora", "--adalora_init_r", "4", "--adalora_target_r", "2")
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    assert config["peft_type"] == "ADALORA" and config["total_step"] == 4
    assert config["rank_pattern"], "update_and_allocate never ran inside the trainer"


def test_prompt_tuning_infers_but_does_not_merge(tiny_chat, tmp_path, tiny_sft) -> None:
    from tunekite.api import ArgumentError

    prompt = ["--tuner", "prompt_tuning", "--num_virtual_tokens", "4"]
    checkpoint = tiny_sft(*prompt)
    answers = tmp_path / "answers.jsonl"
    argv = ["--adapters", str(checkpoint), "--val_dataset", str(tiny_chat[1]), "--result_path", str(answers)]
    start("infer", [*argv, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    assert len(answers.read_text().splitlines()) == 2
    with pytest.raises(ArgumentError, match="PROMPT_TUNING adapter learns virtual tokens"):
        start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    assert not Path(f"{checkpoint}-merged").exists()


def test_vera_checkpoint_merges(tiny_sft) -> None:
    from transformers import AutoModelForCausalLM

    checkpoint = tiny_sft("--tuner", "vera", "--vera_rank", "16")
    merged = start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    model = AutoModelForCausalLM.from_pretrained(merged)
    assert not any("vera" in name for name in model.state_dict())
