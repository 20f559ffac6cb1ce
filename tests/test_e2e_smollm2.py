"""A shortened `make demo` on the real SmolLM2-135M-Instruct: LoRA SFT on self-cognition.

Cross-distribution: gguf model plugin, chatml template plugin, self-cognition dataset
plugin and the LoRA tuner, through `tk run sft` as a user runs it.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_tk
from tunekite.api import checkpoint_description

pytestmark = pytest.mark.slow
for module in ("tunekite_gguf", "tunekite_chatml", "tunekite_self_cognition", "tunekite_lora"):
    pytest.importorskip(module)


def test_lora_on_self_cognition_lowers_the_loss_and_saves_a_plain_peft_adapter(tmp_path):
    out = tmp_path / "run"
    result = run_tk(
        "run",
        "sft",
        "--model",
        "smollm2-135m-instruct",
        "--tuner",
        "lora",
        "--dataset",
        "self-cognition:en#24",
        "--model_name",
        "小风筝",
        "Kite",
        "--model_author",
        "极客",
        "Acme",
        "--max_steps",
        "6",
        "--per_device_train_batch_size",
        "4",
        "--learning_rate",
        "1e-3",
        "--gradient_checkpointing",
        "false",
        "--padding_free",
        "true",
        "--logging_steps",
        "1",
        "--split_dataset_ratio",
        "0",
        "--report_to",
        "none",
        "--output_dir",
        str(out),
        "--add_version",
        "false",
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = [
        json.loads(line)["loss"]
        for line in (out / "logging.jsonl").read_text().splitlines()
        if '"loss"' in line
    ]
    assert len(losses) == 6 and losses[-1] < losses[0], losses

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunekite.api import ModelArguments, model_folder

    base = AutoModelForCausalLM.from_pretrained(model_folder(ModelArguments(model="smollm2-135m-instruct")))
    tuned = PeftModel.from_pretrained(base, out / "checkpoint-6")
    assert tuned.peft_config["default"].r == 8
    assert checkpoint_description(out / "checkpoint-6")["template"] == "smollm2"
