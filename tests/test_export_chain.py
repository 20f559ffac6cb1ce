"""`tk run export` chains across distributions, from a real LoRA SFT run on a tiny chat model:
merge then bitsandbytes, merge then GGUF (loaded back through the gguf plugin), and the
Ollama Modelfile next to that GGUF."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.run import start
from tunekite.testing import save_tiny_chat_model

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, data_file) -> Path:
    """A LoRA checkpoint of a tiny chatml Llama (wide enough for bitsandbytes' CPU blocks)."""
    root = tmp_path_factory.mktemp("export")
    base = save_tiny_chat_model(root / "base", hidden_size=64, intermediate_size=128)
    argv = ["--model", str(base), "--dataset", str(data_file), "--lora_rank", "4", "--max_steps", "2"]
    argv += ["--save_steps", "2", "--learning_rate", "5e-2", "--per_device_train_batch_size", "4"]
    argv += ["--output_dir", str(root / "run"), "--add_version", "false", "--report_to", "none"]
    start("sft", [*argv, "--split_dataset_ratio", "0", "--gradient_checkpointing", "false"])
    return root / "run" / "checkpoint-2"


def logits(folder: Path, ids, **kwargs):
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, **kwargs).eval()
    with torch.no_grad():
        return model, model(input_ids=ids).logits.float()


def test_merge_then_bnb_loads_quantized_and_answers(checkpoint, data_file, tmp_path, monkeypatch) -> None:
    pytest.importorskip("tunekite_bnb")
    import bitsandbytes as bnb
    import torch

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "bnb"
    argv = ["--adapters", str(checkpoint), "--merge_lora", "true", "--quant_method", "bnb"]
    result = start("export", [*argv, "--quant_bits", "4", "--output_dir", str(out)])
    assert Path(result) == out
    config = json.loads((out / "config.json").read_text())
    assert config["quantization_config"]["load_in_4bit"] is True
    ids = torch.tensor([[5, 17, 40, 3, 99, 12]])
    _, merged = logits(Path(f"{checkpoint}-merged"), ids)
    model, quantized = logits(out, ids, device_map="cpu")
    assert isinstance(model.model.layers[0].mlp.up_proj, bnb.nn.Linear4bit)
    # 4-bit weights move the logits, but stay close to the merged model's
    assert not torch.equal(quantized, merged)
    assert torch.nn.functional.cosine_similarity(quantized.flatten(), merged.flatten(), dim=0) > 0.95

    answers = tmp_path / "answers.jsonl"
    infer = ["--model", str(out), "--val_dataset", str(data_file), "--result_path", str(answers)]
    start("infer", [*infer, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(records) == 2 and all(isinstance(r["response"], str) for r in records)


def test_bnb_needs_quant_bits(checkpoint, tmp_path, monkeypatch) -> None:
    pytest.importorskip("tunekite_bnb")
    from tunekite.errors import ArgumentError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArgumentError, match="--quant_bits 4 or 8"):
        start("export", ["--model", f"{checkpoint}-merged", "--quant_method", "bnb", "--output_dir", "q"])
