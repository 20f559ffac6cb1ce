"""A shortened `make demo` on the real SmolLM2-135M-Instruct: LoRA SFT on self-cognition.

Cross-distribution: gguf model plugin, chatml template plugin, self-cognition dataset
plugin and the LoRA tuner, through `tk run sft` as a user runs it.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_tk
from tunekite.api import ModelArguments, checkpoint_description, get_host, model_folder

pytestmark = pytest.mark.slow


def test_terminal_chat_replies_as_transformers_greedy_generation(tmp_path):
    """`tk run infer` on the real model streams what transformers' own greedy `generate`
    answers to the model's chat template."""
    result = run_tk(
        "run", "infer", "--model", "smollm2-135m-instruct", "--max_new_tokens", "16",
        "--temperature", "0", "--stream", "true",
        input="who are you?\nexit\n", cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    reply = result.stdout.split("<<< ")[1].split("-" * 50)[0].strip()

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = model_folder(ModelArguments(model="smollm2-135m-instruct"), host=get_host())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "who are you?"}], add_generation_prompt=True, return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**prompt, max_new_tokens=16, do_sample=False)
    expected = tokenizer.decode(out[0, prompt["input_ids"].shape[1]:], skip_special_tokens=True).strip()
    assert len(expected.split()) >= 3
    assert reply == expected, (reply, expected)


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

    folder = model_folder(ModelArguments(model="smollm2-135m-instruct"), host=get_host())
    base = AutoModelForCausalLM.from_pretrained(folder)
    tuned = PeftModel.from_pretrained(base, out / "checkpoint-6")
    assert tuned.peft_config["default"].r == 8
    assert checkpoint_description(out / "checkpoint-6")["template"] == "smollm2"
