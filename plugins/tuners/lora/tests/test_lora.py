"""The lora tuner: the shared tuner conformance suite plus LoRA's own mapping."""

from __future__ import annotations

from typing import ClassVar

import pytest

from tunekite.api import ArgumentError, TunerArguments
from tunekite.testing import TunerConformance, tiny_causal_lm
from tunekite_lora.plugin import LoraArguments
from tunekite_lora.tuner import lora_config


class TestLoraConformance(TunerConformance):
    name = "lora"


class TestDoraConformance(TunerConformance):
    name = "lora"
    arg_overrides: ClassVar[dict] = {"use_dora": True, "lora_rank": 4}


def test_all_linear_skips_the_output_head() -> None:
    from tunekite_lora.tuner import prepare

    model = prepare(tiny_causal_lm(), LoraArguments(), TunerArguments())
    adapted = {n.split(".lora_A")[0].rsplit(".", 1)[-1] for n, _ in model.named_parameters() if "lora_A" in n}
    assert adapted == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def test_reference_names_map_onto_peft() -> None:
    config = lora_config(
        LoraArguments(lora_rank=16, lora_alpha=8, use_rslora=True, init_weights="pissa_niter_4"),
        TunerArguments(target_modules=["q_proj", "v_proj"], modules_to_save=["lm_head"]),
    )
    assert (config.r, config.lora_alpha, config.use_rslora) == (16, 8, True)
    assert config.init_lora_weights == "pissa_niter_4"
    assert set(config.target_modules) == {"q_proj", "v_proj"}
    assert "lm_head" in config.modules_to_save


def test_target_regex_wins_over_target_modules() -> None:
    config = lora_config(LoraArguments(), TunerArguments(target_regex=r".*\.q_proj"))
    assert config.target_modules == r".*\.q_proj"


@pytest.mark.parametrize("bad", [{"lora_rank": 0}, {"lora_dropout": 1.5}, {"init_weights": "pisa"}])
def test_bad_values_are_rejected(bad: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(bad))):
        LoraArguments(**bad)


def test_lora_plus_gives_b_matrices_a_larger_learning_rate() -> None:
    from types import SimpleNamespace

    from tunekite_lora.tuner import loraplus_optimizer, prepare

    model = prepare(tiny_causal_lm(), LoraArguments(), TunerArguments())
    run = SimpleNamespace(learning_rate=1e-4, weight_decay=0.1, adam_epsilon=1e-8)
    run.adam_beta1, run.adam_beta2 = 0.9, 0.999
    assert loraplus_optimizer(model, args=LoraArguments(), run=run) is None
    optimizer = loraplus_optimizer(model, args=LoraArguments(lorap_lr_ratio=16.0), run=run)
    rates = {group["lr"] for group in optimizer.param_groups if group["params"]}
    assert rates == {1e-4, 1.6e-3}


def test_adapters_continue_training_from_a_saved_adapter(tmp_path) -> None:
    import torch

    from tunekite_lora.tuner import prepare

    first = prepare(tiny_causal_lm(), LoraArguments(init_weights="gaussian"), TunerArguments())
    first.save_pretrained(tmp_path / "adapter")
    again = prepare(tiny_causal_lm(), LoraArguments(), TunerArguments(adapters=[str(tmp_path / "adapter")]))
    trained = {n: p for n, p in again.named_parameters() if p.requires_grad}
    assert trained and all("lora_" in n for n in trained)
    saved = dict(first.named_parameters())
    assert all(torch.equal(p, saved[n]) for n, p in trained.items())
    with pytest.raises(ArgumentError, match="one adapter"):
        prepare(tiny_causal_lm(), LoraArguments(), TunerArguments(adapters=["a", "b"]))
