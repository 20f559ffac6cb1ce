"""LISA: conformance (the tuner trains every weight; the callback freezes during training),
layers redrawn exactly at each interval, gradients only into the activated layers."""

from __future__ import annotations

import itertools
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch

from tunekite.api import ArgumentError, TunerArguments, registry
from tunekite.testing import TunerConformance, eval_logits, reloaded_logits, sgd_steps, tiny_causal_lm
from tunekite_layerwise.lisa import LayerSwitch


class TestLisaConformance(TunerConformance):
    name = "lisa"
    freezes_base = False  # the layers are frozen by the callback, once the optimizer holds them all
    arg_overrides: ClassVar[dict[str, Any]] = {"lisa_activated_layers": 1}


def lisa_model(layers: int = 8, activated: int = 2) -> Any:
    spec = registry("tuners").get("lisa")
    args = spec.args(lisa_activated_layers=activated)
    return spec.load()(tiny_causal_lm(num_hidden_layers=layers), args, TunerArguments())


def trainable_layers(model: Any) -> list[int]:
    return [
        i for i, layer in enumerate(model.model.layers) if all(p.requires_grad for p in layer.parameters())
    ]


def test_the_trainable_layers_change_at_every_interval_and_only_then() -> None:
    model = lisa_model()
    callback, state = LayerSwitch(activated=2, interval=3, seed=7), SimpleNamespace(global_step=0)
    callback.on_train_begin(None, state, None, model=model)
    seen = []
    for step in range(12):
        state.global_step = step
        callback.on_step_begin(None, state, None, model=model)
        seen.append(trainable_layers(model))
        assert seen[-1] == callback.active and len(seen[-1]) == 2
        assert not any(p.requires_grad for i, layer in enumerate(model.model.layers) if i not in seen[-1]
                       for p in layer.parameters())  # fmt: skip
    intervals = [seen[i] for i in range(0, 12, 3)]
    assert all(seen[i] == seen[i - i % 3] for i in range(12)), "the layers changed inside an interval"
    assert all(a != b for a, b in itertools.pairwise(intervals)), intervals
    assert model.lm_head.weight.requires_grad and model.model.embed_tokens.weight.requires_grad


def test_a_resumed_run_draws_the_layers_an_uninterrupted_one_drew() -> None:
    model = lisa_model()
    resumed = LayerSwitch(activated=2, interval=3, seed=7)
    resumed.on_train_begin(None, SimpleNamespace(global_step=7), None, model=model)
    assert resumed.active == LayerSwitch(activated=2, interval=3, seed=7).switch(model, 6)


def test_only_the_activated_layers_receive_gradients() -> None:
    model = lisa_model()
    callback = LayerSwitch(activated=2, interval=1, seed=0)
    for step in range(3):
        active = callback.switch(model, step)
        ids = torch.arange(24).reshape(2, 12)
        model(input_ids=ids, labels=ids).loss.backward()
        for i, layer in enumerate(model.model.layers):
            grads = [p.grad for p in layer.parameters()]
            if i in active:
                assert all(g is not None and g.abs().sum() > 0 for g in grads), i
            else:
                assert all(g is None for g in grads), i
        model.zero_grad(set_to_none=True)


def test_more_activated_layers_than_the_model_has_is_refused() -> None:
    with pytest.raises(ArgumentError, match="exceeds the model's 2 layers"):
        lisa_model(layers=2, activated=3)


def test_save_then_plain_transformers_load_gives_the_same_logits(tmp_path) -> None:
    model = lisa_model(layers=4, activated=1)
    LayerSwitch(activated=1, interval=1).switch(model)
    ids = torch.arange(12).reshape(2, 6)
    sgd_steps(model, ids, steps=1)
    assert torch.allclose(reloaded_logits(model, tmp_path, ids), eval_logits(model, ids), atol=1e-6)
