"""`tk run export --adapters CKPT --merge_lora true` on a tiny model: the merged folder loads
with plain transformers and computes the adapter model's logits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite import hookimpl
from tunekite.api import start
from tunekite.errors import ArgumentError
from tunekite.registrations import TunerSpec


@hookimpl
def tk_register_tuners(register):
    register(TunerSpec(name="lora", summary="stand-in for the lora plugin", factory=lambda model, *_: model))


TestPlugin = type("TestPlugin", (), {"tk_register_tuners": staticmethod(tk_register_tuners)})


@pytest.fixture
def checkpoint(tk_plugins, tmp_path, monkeypatch) -> Path:
    """A tiny Llama, and a LoRA checkpoint of it with non-zero B matrices plus its run's args.json."""
    import torch
    from peft import LoraConfig, get_peft_model

    from tunekite.testing import tiny_causal_lm, tiny_tokenizer

    tk_plugins.add(TestPlugin, name="lora-stand-in")
    monkeypatch.chdir(tmp_path)
    tokenizer = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    model = tiny_causal_lm(seed=2)
    model.resize_token_embeddings(len(tokenizer))
    model.generation_config.max_new_tokens = 7
    model.save_pretrained(tmp_path / "base")
    tokenizer.save_pretrained(tmp_path / "base")
    config = LoraConfig(
        r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], modules_to_save=None
    )
    peft_model = get_peft_model(model, config)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(std=0.5)
    folder = tmp_path / "out" / "v0-x" / "checkpoint-3"
    peft_model.save_pretrained(folder)
    (folder.parent / "args.json").write_text(json.dumps({"model": str(tmp_path / "base"), "tuner": "lora"}))
    return folder


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(input_ids=ids).logits


def test_merged_model_equals_adapter_model(checkpoint):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    target = start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    assert target == Path(f"{checkpoint}-merged")
    assert not list(target.parent.glob(".*tmp*")), "the staging folder is gone"
    merged = AutoModelForCausalLM.from_pretrained(target, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(checkpoint.parent.parent.parent / "base", dtype=torch.float32)
    adapted = PeftModel.from_pretrained(base, checkpoint)
    ids = torch.randint(0, merged.config.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))
    with_adapter = logits(adapted, ids)
    with adapted.disable_adapter():
        without_adapter = logits(adapted, ids)
    assert (with_adapter - without_adapter).abs().max() > 1e-2, "the adapter changes the model"
    assert (logits(merged, ids) - with_adapter).abs().max() < 1e-4
    assert not any("lora" in name for name in merged.state_dict())
    assert AutoTokenizer.from_pretrained(target).eos_token == "<|im_end|>"
    assert merged.generation_config.max_new_tokens == 7
    assert json.loads((target / "args.json").read_text())["merge_lora"] is True


def test_output_dir_and_no_overwrite(checkpoint, tmp_path):
    argv = ["--adapters", str(checkpoint), "--merge_lora", "true", "--output_dir", str(tmp_path / "merged")]
    assert start("export", argv) == tmp_path / "merged"
    assert (tmp_path / "merged" / "model.safetensors").is_file()
    with pytest.raises(ArgumentError, match="already exists"):
        start("export", argv)


def test_export_needs_merge_lora_and_an_adapter(checkpoint):
    with pytest.raises(ArgumentError, match="--merge_lora true"):
        start("export", ["--adapters", str(checkpoint)])
    with pytest.raises(ArgumentError, match="exactly one --adapters"):
        start("export", ["--model", "x", "--merge_lora", "true"])
    with pytest.raises(ArgumentError, match="safetensors"):
        start(
            "export", ["--adapters", str(checkpoint), "--merge_lora", "true", "--safe_serialization", "false"]
        )


def test_virtual_token_adapters_are_refused_before_anything_is_written(checkpoint, tmp_path):
    from peft import PromptTuningConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    prompt = checkpoint.parent / "checkpoint-prompt"
    get_peft_model(base, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=4)).save_pretrained(
        prompt
    )
    with pytest.raises(ArgumentError, match=r"PROMPT_TUNING adapter learns virtual tokens.*nothing to merge"):
        start("export", ["--adapters", str(prompt), "--merge_lora", "true"])
    assert not Path(f"{prompt}-merged").exists()
