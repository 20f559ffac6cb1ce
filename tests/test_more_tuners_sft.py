"""GaLore, LISA, LLaMA-Pro and LongLoRA through `tk run sft`: each tuner's optimizer,
callback or attention runs inside the trainer, and each checkpoint is a plain transformers
model or peft adapter that `tk run infer` answers with."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunekite.api import start

pytest.importorskip("tunekite_galore")
pytest.importorskip("tunekite_layerwise")
pytest.importorskip("tunekite_longlora")
pytest.importorskip("tunekite_chatml")


def changed(base: Path, checkpoint: Path) -> set[str]:
    """Names of the base model's weights that differ in the checkpoint."""
    before = AutoModelForCausalLM.from_pretrained(base).state_dict()
    after = AutoModelForCausalLM.from_pretrained(checkpoint).state_dict()
    return {name for name, weight in before.items() if not torch.equal(weight, after[name])}


@pytest.mark.parametrize("per_parameter", ["false", "true"])
def test_galore_trains_every_weight(tiny_chat, tiny_sft, per_parameter) -> None:
    checkpoint = tiny_sft(
        "--tuner", "galore", "--galore_rank", "4", "--galore_optim_per_parameter", per_parameter
    )
    assert {"model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"} <= changed(
        tiny_chat[0], checkpoint
    )


def test_lisa_trains_only_the_drawn_layer(tiny_chat, tiny_sft) -> None:
    """One of the two layers is drawn for the whole (4-step) run: the other stays as it was."""
    lisa = ["--tuner", "lisa", "--lisa_activated_layers", "1", "--lisa_step_interval", "100"]
    checkpoint = tiny_sft(*lisa)
    layers = {
        name.split(".")[2] for name in changed(tiny_chat[0], checkpoint) if name.startswith("model.layers.")
    }
    assert len(layers) == 1, layers
    assert "lm_head.weight" in changed(tiny_chat[0], checkpoint)


def test_llamapro_checkpoint_is_a_plain_model_with_more_layers(tiny_chat, tmp_path, tiny_sft) -> None:
    checkpoint = tiny_sft("--tuner", "llamapro", "--llamapro_num_new_blocks", "2")
    base = AutoModelForCausalLM.from_pretrained(tiny_chat[0])
    grown = AutoModelForCausalLM.from_pretrained(checkpoint)
    assert grown.config.num_hidden_layers == base.config.num_hidden_layers + 2
    old, new = base.state_dict(), grown.state_dict()
    for index, kept in ((0, 0), (1, 2)):  # layers 1 and 3 are the new blocks
        prefix, kept_prefix = f"model.layers.{index}.", f"model.layers.{kept}."
        for name, weight in old.items():
            if name.startswith(prefix):
                assert torch.equal(weight, new[name.replace(prefix, kept_prefix)]), name
    assert new["model.layers.1.self_attn.o_proj.weight"].any(), "the new block did not train"
    answers = tmp_path / "answers.jsonl"
    argv = ["--model", str(checkpoint), "--val_dataset", str(tiny_chat[1]), "--result_path", str(answers)]
    start("infer", [*argv, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    assert len(answers.read_text().splitlines()) == 2


def test_longlora_trains_with_rope_scaling_and_infers(tiny_chat, tmp_path, tiny_sft) -> None:
    """The tiny model knows 64 positions; linear RoPE scaling stretches it to 128."""
    import json

    longlora = ["--tuner", "longlora", "--rope_scaling", "linear", "--max_length", "128"]
    checkpoint = tiny_sft(*longlora)
    config = json.loads((checkpoint / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and {"embed_tokens", "norm"} <= set(config["modules_to_save"])
    answers = tmp_path / "answers.jsonl"
    argv = ["--adapters", str(checkpoint), "--val_dataset", str(tiny_chat[1]), "--result_path", str(answers)]
    start("infer", [*argv, "--max_new_tokens", "3", "--temperature", "0", "--val_dataset_sample", "2"])
    assert len(answers.read_text().splitlines()) == 2
