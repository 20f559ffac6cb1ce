"""`tk run export` chains across distributions, from a real LoRA SFT run on a tiny chat model:
merge then bitsandbytes, merge then GGUF (loaded back through the gguf plugin), and the
Ollama Modelfile next to that GGUF."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tunekite.api import start
from tunekite.testing import save_tiny_chat_model

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data_file) -> Path:
    """A LoRA checkpoint of a tiny chatml Llama (wide enough for bitsandbytes' CPU blocks)."""
    root = tmp_path_factory.mktemp("export")
    base = save_tiny_chat_model(root / "base", hidden_size=64, intermediate_size=128)
    argv = ["--model", str(base), "--dataset", str(data_file), "--lora_rank", "4", "--max_steps", "2"]
    argv += ["--save_steps", "2", "--learning_rate", "5e-2", "--per_device_train_batch_size", "4"]
    argv += ["--output_dir", str(root / "run"), "--add_version", "false", "--report_to", "none"]
    start("sft", [*argv, "--split_dataset_ratio", "0", "--gradient_checkpointing", "false"])
    return root / "run" / "checkpoint-2"


@pytest.fixture
def checkpoint(trained, tmp_path) -> Path:
    """The trained run copied for one test, so each merges to its own `<checkpoint>-merged`."""
    shutil.copytree(trained.parent, tmp_path / "run")
    return tmp_path / "run" / trained.name


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


def test_bnb_needs_quant_bits(trained, tmp_path, monkeypatch) -> None:
    pytest.importorskip("tunekite_bnb")
    from tunekite.errors import ArgumentError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArgumentError, match="--quant_bits 4 or 8"):
        start(
            "export",
            ["--model", str(trained.parents[1] / "base"), "--quant_method", "bnb", "--output_dir", "q"],
        )


@pytest.mark.parametrize(("quantization", "tolerance"), [("f32", 1e-5), ("f16", 2e-2)])
def test_merge_then_gguf_loads_back_with_the_merged_logits(
    checkpoint, tmp_path, monkeypatch, quantization, tolerance
) -> None:
    """f32 holds the merged weights exactly; f16 rounds each weight to 11 significant bits,
    which moves this tiny model's logits by well under 2e-2."""
    pytest.importorskip("tunekite_gguf")
    import torch

    from tunekite.api import load_model, resolve

    monkeypatch.setenv("TUNEKITE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "gguf"
    argv = ["--adapters", str(checkpoint), "--merge_lora", "true", "--to_gguf", "true"]
    gguf_file = start("export", [*argv, "--gguf_quantization", quantization, "--output_dir", str(out)])
    assert gguf_file == out / f"checkpoint-2-merged-{quantization}.gguf"
    merged, _ = logits(Path(f"{checkpoint}-merged"), torch.tensor([[0]]))
    run, _ = resolve("infer", ["--model", str(gguf_file)])  # what `tk run infer --model x.gguf` loads
    model, tokenizer = load_model(run)
    text = "<|im_start|>user\nwhat is 3 plus 3?<|im_end|>\n<|im_start|>assistant\n"
    ids = torch.tensor([tokenizer(text)["input_ids"]])
    with torch.no_grad():
        back, expected = model(input_ids=ids).logits, merged(input_ids=ids).logits
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    assert torch.allclose(back, expected, atol=tolerance)
    if quantization == "f16":
        assert not torch.equal(back, expected)
