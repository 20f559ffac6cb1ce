"""QLoRA across distributions: the bnb quantizer loads the base in 4 bits, the lora tuner
trains on it, the adapter loads with plain peft over a 4-bit base, `tk run infer --adapters`
brings the quantization back from args.json, and `tk run export --merge_lora` merges onto
the full-precision base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import quick_sft_argv
from tunekite.api import resolve, start
from tunekite.testing import save_tiny_chat_model

pytest.importorskip("bitsandbytes")
pytest.importorskip("tunekite_bnb")
pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")

FOUR_BIT = ["--quant_method", "bnb", "--quant_bits", "4"]


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A tiny chat model wide enough for bitsandbytes' 64-feature CPU blocks."""
    return save_tiny_chat_model(
        tmp_path_factory.mktemp("tiny") / "base", hidden_size=64, intermediate_size=128
    )


def four_bit(base: Path, bits: int = 4):
    """The base loaded as `tk run sft --quant_method bnb --quant_bits BITS` loads it."""
    from tunekite.api import load_model

    run, _ = resolve("sft", ["--model", str(base), "--quant_method", "bnb", "--quant_bits", str(bits)])
    return load_model(run)[0]


def fp32_twin(quantized, base: Path):
    """The full-precision model holding exactly the quantized model's dequantized weights."""
    import bitsandbytes as bnb
    from transformers import AutoModelForCausalLM

    twin = AutoModelForCausalLM.from_pretrained(base)
    for name, module in quantized.named_modules():
        if isinstance(module, bnb.nn.Linear4bit):
            weight = bnb.functional.dequantize_4bit(module.weight.data, module.weight.quant_state)
        elif isinstance(module, bnb.nn.Linear8bitLt):  # int8 rows scaled by their absmax / 127
            absmax = module.weight.SCB if module.weight.SCB is not None else module.state.SCB  # moved on use
            weight = module.weight.data.float() * absmax.float().unsqueeze(1) / 127
        else:
            continue
        plain = name.removeprefix("base_model.model.").removesuffix(".base_layer")
        twin.get_submodule(plain).weight.data = weight.float()
    return twin


@pytest.mark.parametrize("bits", [4, 8])
def test_qlora_gradients_equal_the_dequantized_models_and_peft_loads_it(base, tmp_path, bits) -> None:
    import torch
    from peft import PeftModel, get_peft_model, get_peft_model_state_dict, set_peft_model_state_dict

    from tunekite.api import TunerArguments, registry
    from tunekite_bnb.training import keep_trainable

    lora = registry("tuners").get("lora")
    model = lora.load()(four_bit(base, bits), lora.args(lora_rank=4, lora_dropout=0.0), TunerArguments())
    ids = torch.randint(0, model.config.vocab_size, (2, 10), generator=torch.Generator().manual_seed(0))
    keep_trainable(model)  # what the bnb plugin's train callback does at train begin
    model.eval()
    with torch.no_grad():
        before = model(input_ids=ids).logits.clone()  # an eval pass, as the trainer's evaluation makes
    twin = get_peft_model(fp32_twin(model, base), model.peft_config["default"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    twin.train()
    for _ in range(2):
        set_peft_model_state_dict(twin, get_peft_model_state_dict(model))
        model(input_ids=ids, labels=ids).loss.backward()
        twin(input_ids=ids, labels=ids).loss.backward()
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad and p.grad is not None]
        assert not frozen, frozen
        grads = {n: p.grad for n, p in twin.named_parameters() if p.requires_grad}
        for name, param in model.named_parameters():
            if param.requires_grad:
                assert torch.allclose(param.grad, grads[name], rtol=1e-3, atol=1e-6), name
        optimizer.step()
        optimizer.zero_grad()
        twin.zero_grad()
    model.eval()
    with torch.no_grad():
        after = model(input_ids=ids).logits
    assert not torch.allclose(before, after, atol=1e-4)
    assert all("lora_" in n for n, p in model.named_parameters() if p.requires_grad)

    model.save_pretrained(tmp_path / "adapter")
    again = PeftModel.from_pretrained(four_bit(base, bits), tmp_path / "adapter")
    keep_trainable(again)  # the same (unpacked) CPU kernel as `after`
    with torch.no_grad():
        assert torch.allclose(again(input_ids=ids).logits, after, atol=1e-5)


def test_qlora_sft_infer_and_merge_end_to_end(base, data_file, tmp_path, monkeypatch) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from tunekite.api import load_for_inference
    from tunekite.tasks.loading import with_checkpoint_args

    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    extra = ["--lora_rank", "4", "--max_steps", "4", "--save_steps", "4", "--learning_rate", "5e-3"]
    extra += ["--per_device_train_batch_size", "4", "--bnb_4bit_quant_type", "fp4"]
    result = start("sft", quick_sft_argv(base, data_file, out, *FOUR_BIT, *extra))
    assert [h["loss"] for h in result["log_history"] if "loss" in h]
    checkpoint = out / "checkpoint-4"
    saved = json.loads((checkpoint / "args.json").read_text())
    assert (saved["quant_method"], saved["quant_bits"], saved["bnb_4bit_quant_type"]) == ("bnb", 4, "fp4")

    # infer: --adapters alone brings back the 4-bit base, with the run's fp4 setting
    run, _ = resolve("infer", ["--adapters", str(checkpoint)])
    model, tokenizer, _ = load_for_inference(with_checkpoint_args(run))
    q_proj = model.base_model.model.model.layers[0].self_attn.q_proj.base_layer
    assert q_proj.weight.quant_state.quant_type == "fp4"
    answers = tmp_path / "answers.jsonl"
    start(
        "infer",
        [
            "--adapters",
            str(checkpoint),
            "--val_dataset",
            str(data_file),
            "--result_path",
            str(answers),
            "--max_new_tokens",
            "4",
            "--temperature",
            "0",
            "--val_dataset_sample",
            "2",
        ],
    )
    assert len(answers.read_text().splitlines()) == 2

    # export: merged onto the full-precision base, a plain transformers folder
    merged_dir = start("export", ["--adapters", str(checkpoint), "--merge_lora", "true"])
    config = json.loads((Path(merged_dir) / "config.json").read_text())
    assert "quantization_config" not in config
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base), checkpoint)
    ids = torch.tensor([tokenizer("3 plus 3?")["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(merged(input_ids=ids).logits, reference(input_ids=ids).logits, atol=1e-4)


def test_infer_loads_a_base_quantized_for_inference(base, data_file, tmp_path, monkeypatch) -> None:
    import bitsandbytes as bnb

    from tunekite.api import load_for_inference
    from tunekite.tasks.loading import with_checkpoint_args

    monkeypatch.chdir(tmp_path)
    run, _ = resolve("infer", ["--model", str(base), *FOUR_BIT, "--bnb_4bit_quant_type", "fp4"])
    model, _, _ = load_for_inference(with_checkpoint_args(run))
    assert isinstance(model.model.layers[0].mlp.up_proj, bnb.nn.Linear4bit)
    assert model.model.layers[0].mlp.up_proj.weight.quant_state.quant_type == "fp4"
    answers = tmp_path / "answers.jsonl"
    argv = ["--model", str(base), *FOUR_BIT, "--val_dataset", str(data_file), "--result_path", str(answers)]
    start("infer", [*argv, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    records = [json.loads(line) for line in answers.read_text().splitlines()]
    assert len(records) == 2 and all(isinstance(r["response"], str) for r in records)
