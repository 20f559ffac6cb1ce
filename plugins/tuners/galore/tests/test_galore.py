"""The `galore` tuner: conformance (it trains every weight), the projected optimizer's
low-rank updates, the per-parameter variant, the refusals, and save -> load -> same logits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
import torch

from tunekite.api import ArgumentError, TunerArguments, registry
from tunekite.testing import TunerConformance, eval_logits, reloaded_logits, tiny_causal_lm


class TestGaloreConformance(TunerConformance):
    name = "galore"
    freezes_base = False  # GaLore saves optimizer state, not trained weights
    arg_overrides: ClassVar[dict[str, Any]] = {"galore_rank": 4}


def run_settings(**changes: Any) -> SimpleNamespace:
    settings = {
        "optim": "adamw_torch",
        "learning_rate": 1e-2,
        "weight_decay": 0.0,
        "adam_beta1": 0.9,
        "adam_beta2": 0.999,
        "adam_epsilon": 1e-8,
        "gradient_accumulation_steps": 1,
    }
    return SimpleNamespace(**{**settings, **changes})


def galore(run: SimpleNamespace | None = None, **arguments: Any) -> tuple[Any, Any]:
    """The tiny model prepared by the tuner and the tuner's optimizer for it."""
    spec = registry("tuners").get("galore")
    args = spec.args(**{"galore_rank": 2, **arguments})
    model = spec.load()(tiny_causal_lm(), args, TunerArguments())
    return model, spec.load_optimizer()(model, args=args, run=run or run_settings())


def loss(model: Any) -> Any:
    ids = torch.arange(24).reshape(2, 12)
    return model(input_ids=ids, labels=ids).loss


def test_projected_weights_change_by_a_low_rank_update_and_the_rest_fully() -> None:
    model, optimizer = galore(galore_target_modules=["q_proj", "down_proj"])
    projected = dict(optimizer.param_groups[1])
    assert projected["rank"] == 2 and projected["update_proj_gap"] == 50
    names = {id(p): n for n, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in projected["params"]) == [
        f"model.layers.{i}.{m}.weight" for i in (0, 1) for m in ("mlp.down_proj", "self_attn.q_proj")
    ]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    loss(model).backward()
    optimizer.step()
    after = dict(model.named_parameters())
    q = after["model.layers.0.self_attn.q_proj.weight"] - before["model.layers.0.self_attn.q_proj.weight"]
    k = after["model.layers.0.self_attn.k_proj.weight"] - before["model.layers.0.self_attn.k_proj.weight"]
    assert torch.linalg.matrix_rank(q.detach()) <= 2 < min(q.shape)
    assert torch.linalg.matrix_rank(k.detach()) > 2  # not projected: a full-rank Adam update


def test_with_embedding_projects_the_embeddings_too() -> None:
    model, optimizer = galore(galore_with_embedding=True)
    names = {id(p): n for n, p in model.named_parameters()}
    projected = {names[id(p)] for p in optimizer.param_groups[1]["params"]}
    assert {"model.embed_tokens.weight", "lm_head.weight"} <= projected
    plain, optimizer = galore()
    names = {id(p): n for n, p in plain.named_parameters()}
    assert "lm_head.weight" not in {names[id(p)] for p in optimizer.param_groups[1]["params"]}


def test_per_parameter_optimizers_step_during_backward() -> None:
    model, optimizer = galore(galore_optim_per_parameter=True)
    assert type(optimizer).__name__ == "LayerWiseDummyOptimizer"
    assert len(optimizer.optimizer_dict) == len(list(model.parameters()))
    before = model.lm_head.weight.detach().clone()
    loss(model).backward()  # the hooks step each weight and free its gradient
    assert not torch.equal(before, model.lm_head.weight)
    assert all(p.grad is None for p in model.parameters())


def test_adafactor_is_projected_too() -> None:
    _, optimizer = galore(run_settings(optim="adafactor"))
    from galore_torch import GaLoreAdafactor

    assert isinstance(optimizer, GaLoreAdafactor)


def test_use_galore_false_leaves_the_optimizer_to_the_trainer() -> None:
    _, optimizer = galore(use_galore=False)
    assert optimizer is None


@pytest.mark.parametrize(
    ("run", "arguments", "message"),
    [
        (run_settings(optim="adamw_8bit"), {}, "CUDA 8-bit"),
        (run_settings(optim="sgd"), {}, "AdamW or Adafactor only"),
        (run_settings(gradient_accumulation_steps=4), {"galore_optim_per_parameter": True}, "accumulate"),
        (run_settings(), {"galore_target_modules": ["nothing_here"]}, "names no linear layer"),
    ],
)
def test_refusals_name_the_reason(run: SimpleNamespace, arguments: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgumentError, match=message):
        galore(run, **arguments)


def test_qgalore_arguments_are_refused_with_the_reason() -> None:
    import dataclasses

    spec = registry("tuners").get("galore")
    refused = {
        f.name: f.metadata["unsupported"] for f in dataclasses.fields(spec.args) if f.metadata["unsupported"]
    }
    assert "galore_quantization" in refused and "CUDA" in refused["galore_quantization"]


def test_save_then_plain_transformers_load_gives_the_same_logits(tmp_path) -> None:
    model, optimizer = galore()
    for _ in range(2):
        loss(model).backward()
        optimizer.step()
        optimizer.zero_grad()
    ids = torch.arange(12).reshape(2, 6)
    assert torch.allclose(reloaded_logits(model, tmp_path, ids), eval_logits(model, ids), atol=1e-6)
