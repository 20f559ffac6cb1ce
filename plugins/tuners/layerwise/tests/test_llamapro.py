"""LLaMA-Pro: conformance, outputs unchanged by the zero-initialised blocks, only the new
blocks trainable and where they belong, and the saved model a plain transformers model
with `llamapro_num_new_blocks` more layers."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
import torch
from transformers import AutoModelForCausalLM

from tunekite.api import ArgumentError, TunerArguments, registry
from tunekite.testing import TunerConformance, eval_logits, reloaded_logits, sgd_steps, tiny_causal_lm


class TestLlamaProConformance(TunerConformance):
    name = "llamapro"
    arg_overrides: ClassVar[dict[str, Any]] = {"llamapro_num_new_blocks": 2}


IDS = torch.arange(24).reshape(2, 12)


def expanded(layers: int = 4, **arguments: Any) -> Any:
    spec = registry("tuners").get("llamapro")
    return spec.load()(tiny_causal_lm(num_hidden_layers=layers), spec.args(**arguments), TunerArguments())


def test_new_blocks_leave_the_output_unchanged_before_training() -> None:
    before = eval_logits(tiny_causal_lm(num_hidden_layers=4), IDS)
    model = expanded(llamapro_num_new_blocks=4)
    assert model.config.num_hidden_layers == 8 and len(model.model.layers) == 8
    assert torch.allclose(eval_logits(model, IDS), before, atol=1e-6)


def test_only_the_new_blocks_train_and_sit_after_each_group() -> None:
    model = expanded(llamapro_num_new_blocks=2, llamapro_num_groups=2)
    trainable = {name.split(".")[2] for name, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"2", "5"}  # groups [0 1] [2 3] each followed by one new block
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == list(range(6))
    assert not model.model.layers[2].self_attn.o_proj.weight.any()
    assert not model.model.layers[5].mlp.down_proj.weight.any()
    assert model.model.layers[2].self_attn.q_proj.weight.equal(model.model.layers[1].self_attn.q_proj.weight)


def test_a_group_count_that_does_not_divide_the_layers_is_refused() -> None:
    with pytest.raises(ArgumentError, match="does not divide the model's 4 layers"):
        expanded(llamapro_num_new_blocks=3)


def test_trained_model_saves_as_a_plain_transformers_model_with_more_layers(tmp_path) -> None:
    model = expanded(llamapro_num_new_blocks=2)
    sgd_steps(model, IDS)
    trained = eval_logits(model, IDS)
    assert not torch.allclose(trained, eval_logits(tiny_causal_lm(num_hidden_layers=4), IDS))
    assert torch.allclose(reloaded_logits(model, tmp_path, IDS), trained, atol=1e-6)
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert loaded.config.num_hidden_layers == 4 + 2
    generated = loaded.generate(IDS[:1, :4], max_new_tokens=3, do_sample=False)  # the KV cache has 6 slots
    assert generated.shape == (1, 7)
