"""LoRA-GA (`--init_weights lora-ga`): conformance, the gradient initialisation leaves the
output unchanged, checkpoints convert to a plain LoRA on the original base, and sft → infer →
export on the tiny chat model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import torch

from tunekite.api import ArgumentError, TunerArguments, start
from tunekite.testing import (
    TunerConformance,
    eval_logits,
    save_tiny_chat_model,
    sgd_steps,
    tiny_causal_lm,
    training_batches,
)
from tunekite_lora.lora_ga import convert_checkpoint
from tunekite_lora.plugin import LoraArguments
from tunekite_lora.tuner import prepare

IDS = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
GA = {"init_weights": "lora-ga", "lora_rank": 4}


class TestLoraGaConformance(TunerConformance):
    name = "lora"
    arg_overrides: ClassVar[dict] = GA


def lora_ga(**arguments: Any) -> Any:
    args = LoraArguments(**{**GA, **arguments})
    return prepare(tiny_causal_lm(), args, TunerArguments(), training_batches())


def test_initial_output_is_the_base_models_and_the_adapters_are_not_zero() -> None:
    model = lora_ga()
    assert torch.allclose(eval_logits(model, IDS), eval_logits(tiny_causal_lm(), IDS), atol=1e-5)
    b = next(p for n, p in model.named_parameters() if "lora_B" in n)
    assert b.abs().sum() > 0, "B started at zero: the gradient initialisation did not run"
    q_proj = "model.layers.0.self_attn.q_proj"
    original = dict(tiny_causal_lm().named_parameters())[f"{q_proj}.weight"]
    offset = dict(model.get_base_model().named_parameters())[f"{q_proj}.base_layer.weight"]
    assert not torch.equal(offset, original), "the base weights were not offset"


def test_the_direction_follows_the_gradients_of_the_batches() -> None:
    """Other data, other gradients, other A: the batches are what initialises the adapter."""
    first = lora_ga()
    other = prepare(tiny_causal_lm(), LoraArguments(**GA), TunerArguments(), training_batches(seed=5))
    a = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.default.weight"
    assert not torch.allclose(dict(first.named_parameters())[a], dict(other.named_parameters())[a])


def test_a_converted_checkpoint_loads_with_plain_peft_on_the_original_base(tmp_path: Path) -> None:
    from peft import PeftModel

    model = lora_ga()
    sgd_steps(model, IDS, steps=2, lr=0.5)
    trained = eval_logits(model, IDS)
    model.save_pretrained(tmp_path)  # what the trainer writes, then the conversion rewrites it
    assert convert_checkpoint(model, tmp_path)
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert (config["r"], config["init_lora_weights"]) == (8, True)
    loaded = PeftModel.from_pretrained(tiny_causal_lm(), str(tmp_path))
    assert torch.allclose(eval_logits(loaded, IDS), trained, atol=1e-4)
    assert torch.allclose(eval_logits(model, IDS), trained), "the conversion changed the model in training"
    again = prepare(tiny_causal_lm(), LoraArguments(), TunerArguments(adapters=[str(tmp_path)]))
    assert torch.allclose(eval_logits(again, IDS), trained, atol=1e-4), "--adapters does not continue from it"
    assert all("lora_" in n for n, p in again.named_parameters() if p.requires_grad)


def test_a_plain_lora_is_saved_as_it_is(tmp_path: Path) -> None:
    model = prepare(tiny_causal_lm(), LoraArguments(), TunerArguments(), training_batches())
    assert not convert_checkpoint(model, tmp_path)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("common", "batches", "message"),
    [
        (TunerArguments(adapters=["an-adapter"]), training_batches(), "--adapters continues a saved adapter"),
        (TunerArguments(), None, "gives the tuner no training batches"),
    ],
)
def test_refusals(common: Any, batches: Any, message: str) -> None:
    with pytest.raises(ArgumentError, match=f"^--init_weights lora-ga: .*{message}"):
        prepare(tiny_causal_lm(), LoraArguments(**GA), common, batches)


def test_quantized_or_partitioned_base_weights_are_refused() -> None:
    model = tiny_causal_lm()
    model.is_quantized = True  # what transformers sets on a bitsandbytes-loaded model
    with pytest.raises(ArgumentError, match=r"^--init_weights lora-ga: it needs the full-precision"):
        prepare(model, LoraArguments(**GA), TunerArguments(), training_batches())
    model = tiny_causal_lm()
    model.lm_head.weight.ds_id = 0  # what DeepSpeed's ZeRO-3 gives each partitioned parameter
    with pytest.raises(ArgumentError, match="ZeRO-3 partitions the base weights"):
        prepare(model, LoraArguments(**GA), TunerArguments(), training_batches())


def test_lora_ga_arguments_without_lora_ga_are_refused() -> None:
    with pytest.raises(ValueError, match="lora_ga_iters is read only with --init_weights lora-ga"):
        LoraArguments(lora_ga_iters=4)


def test_dora_is_refused_since_its_adapter_would_not_convert() -> None:
    """Measured: a DoRA LoRA-GA adapter converted by peft gave logits 0.2 away on the original base."""
    with pytest.raises(ValueError, match="use_dora with init_weights lora-ga"):
        LoraArguments(init_weights="lora-ga", use_dora=True)


def test_scale_names_map_onto_peft() -> None:
    from tunekite_lora.tuner import lora_config

    config = lora_config(LoraArguments(init_weights="lora-ga", lora_ga_scale="weightS"), TunerArguments())
    assert config.init_lora_weights == "lora_ga"
    assert (config.lora_ga_config.scale, config.lora_ga_config.direction) == ("weight_svd", "ArB2r")


def test_sft_then_infer_and_merge_on_the_original_base(tmp_path: Path, monkeypatch: Any) -> None:
    """The whole path: sft estimates the gradients on its own training batches, the checkpoint
    holds the converted adapter (its args.json says so), infer and --merge_lora use it on the
    original base, and resuming from it is refused in one line."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    monkeypatch.chdir(tmp_path)
    model_dir = save_tiny_chat_model(tmp_path / "tiny-chat")
    data = tmp_path / "sums.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"{i} plus {i}?"},
                          {"role": "assistant", "content": f"{2 * i}."}]} for i in range(8)]  # fmt: skip
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    sft = [
        "--model", str(model_dir), "--dataset", str(data), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--max_steps", "2", "--save_steps", "2", "--learning_rate", "1e-2",
        "--per_device_train_batch_size", "4", "--tuner", "lora", "--lora_rank", "4",
        "--init_weights", "lora-ga", "--lora_ga_iters", "2", "--lora_ga_max_length", "16",
    ]  # fmt: skip
    summary = start("sft", [*sft, "--output_dir", "run"])
    checkpoint = tmp_path / "run" / "checkpoint-2"
    assert json.loads((checkpoint / "args.json").read_text())["tunekite"]["checkpoint"]["adapter_converted"]
    assert json.loads((checkpoint / "adapter_config.json").read_text())["r"] == 8

    ids = torch.tensor([[1, 5, 9, 14, 20, 3]])
    base = AutoModelForCausalLM.from_pretrained(model_dir)
    original = eval_logits(base, ids)
    adapted = eval_logits(PeftModel.from_pretrained(base, str(checkpoint)), ids)
    assert torch.allclose(adapted, eval_logits(summary["trainer"].model, ids), atol=1e-4)
    assert not torch.allclose(adapted, original, atol=1e-4)

    answers = tmp_path / "answers.jsonl"
    start("infer", ["--adapters", str(checkpoint), "--val_dataset", str(data), "--result_path", str(answers),
                    "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])  # fmt: skip
    assert len(answers.read_text().splitlines()) == 2
    start("export", ["--adapters", str(checkpoint), "--merge_lora", "true", "--output_dir", "merged"])
    merged = eval_logits(AutoModelForCausalLM.from_pretrained(tmp_path / "merged"), ids)
    assert torch.allclose(merged, adapted, atol=1e-4)

    with pytest.raises(ArgumentError, match="its adapter was converted to apply to the original base model"):
        start("sft", [*sft, "--output_dir", "again", "--resume_from_checkpoint", str(checkpoint)])
