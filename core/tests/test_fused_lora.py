"""LoRA's output fused into one `addmm`: the same logits and gradients as peft's forward in
fp32, under autocast and over bf16 weights, peft's own forward wherever the fused one does
not apply, and a model that still pickles."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch

from tunekite.testing import tiny_causal_lm
from tunekite.training.fused_lora import fuse_lora_forward
from tunekite.training.lean_dropout import fuse_lora_dropout

IDS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(5))
LAYERS = 2 * 7  # two layers of q, k, v, o, gate, up, down


def lora_model(dtype: torch.dtype = torch.float32, **config):
    from peft import LoraConfig, get_peft_model

    settings = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear", **config}
    model = get_peft_model(tiny_causal_lm().to(dtype), LoraConfig(task_type="CAUSAL_LM", **settings))
    torch.manual_seed(0)
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would hide a wrong B term
            torch.nn.init.normal_(param, std=0.1)
    return model.train()


def run(model, autocast: bool = False) -> tuple[torch.Tensor, dict]:
    torch.manual_seed(1)  # the same dropout seeds on both sides
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        logits = model(input_ids=IDS).logits
    logits.float().pow(2).mean().backward()
    return logits, {n: p.grad for n, p in model.named_parameters() if p.requires_grad}


def assert_same(model, fused, autocast: bool = False, **tolerance) -> None:
    logits, grads = run(model, autocast)
    fused_logits, fused_grads = run(fused, autocast)
    torch.testing.assert_close(fused_logits, logits, **tolerance)
    assert fused_grads.keys() == grads.keys()
    for name, grad in grads.items():
        assert fused_grads[name].dtype == grad.dtype and fused_grads[name].abs().sum() > 0, name
        torch.testing.assert_close(fused_grads[name], grad, **tolerance, msg=name)


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_fp32_logits_and_gradients_are_peft_s(dropout: float) -> None:
    model = lora_model(lora_dropout=dropout)
    fuse_lora_dropout(model)
    fused = copy.deepcopy(model)
    assert fuse_lora_forward(fused) == LAYERS
    assert_same(model, fused, atol=1e-5, rtol=1e-5)


def test_under_autocast_logits_and_gradients_are_peft_s() -> None:
    model = lora_model()
    fused = copy.deepcopy(model)
    fuse_lora_forward(fused)
    assert_same(model, fused, autocast=True, atol=2e-2, rtol=2e-2)


def test_over_bf16_weights_fp32_adapters_compute_as_autocast_would() -> None:
    model = lora_model(torch.bfloat16)
    assert {p.dtype for n, p in model.named_parameters() if "lora_" in n} == {torch.float32}
    fused = copy.deepcopy(model)
    fuse_lora_forward(fused)
    assert_same(model, fused, atol=5e-2, rtol=5e-2)


def saved_float32_bytes(model) -> int:
    """Bytes of fp32 activations a bf16-autocast forward keeps for backward (parameters aside)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if tensor.dtype == torch.float32 and storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
    with hooks, torch.autocast("cpu", dtype=torch.bfloat16):
        model(input_ids=IDS)
    return sum(seen.values())


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_over_bf16_weights_under_autocast_adapters_read_the_bf16_input(dropout: float) -> None:
    """`--torch_dtype bfloat16` trains under bf16 autocast: the fused adapters compute as
    peft's do, without first casting their input up to their fp32 weights' dtype (peft's
    forward does, and with dropout fused into `A` that kept an fp32 copy of each shared
    input for backward; only the norms' own fp32 intermediates remain)."""
    model = lora_model(torch.bfloat16, lora_dropout=dropout)
    fuse_lora_dropout(model)
    fused = copy.deepcopy(model)
    fuse_lora_forward(fused)
    assert_same(model, fused, autocast=True, atol=5e-2, rtol=5e-2)
    if dropout:
        assert saved_float32_bytes(fused) < 0.5 * saved_float32_bytes(model)


def test_peft_s_forward_where_the_fused_one_does_not_apply() -> None:
    fused = lora_model()
    fuse_lora_forward(fused)
    reference = copy.deepcopy(fused)
    calls = []
    peft_forward = type(next(m for m in fused.modules() if hasattr(m, "_peft_forward")))._peft_forward

    def counting(self, x, *args, **kwargs):
        calls.append(self)
        return peft_forward(self, x, *args, **kwargs)

    for module in fused.modules():
        if hasattr(module, "_peft_forward"):
            module._peft_forward = counting.__get__(module)
    with torch.no_grad():
        with fused.disable_adapter():
            assert torch.equal(fused(input_ids=IDS).logits, tiny_causal_lm_logits(reference))
        assert len(calls) == LAYERS
        fused.merge_adapter()
        merged = fused(input_ids=IDS).logits
        fused.unmerge_adapter()
        assert len(calls) == 2 * LAYERS
        torch.testing.assert_close(merged, fused(input_ids=IDS).logits, atol=1e-5, rtol=1e-5)
        assert len(calls) == 2 * LAYERS  # unmerged again: fused


def test_a_b_matrix_under_zero3_goes_through_peft_s_forward(monkeypatch) -> None:
    """ZeRO-3 gathers a partitioned parameter only when its own module runs; the fused
    forward reads `B.weight` directly, so a `B` that DeepSpeed manages (`ds_id`) takes
    peft's path, which calls `B`."""
    fused = lora_model()
    fuse_lora_forward(fused)
    layer = next(m for m in fused.modules() if hasattr(m, "_peft_forward"))
    layer.lora_B["default"].weight.ds_id = 0
    calls = []

    def peft_forward(x, *args, **kwargs):
        calls.append(x)
        return type(layer)._peft_forward(layer, x, *args, **kwargs)

    monkeypatch.setattr(layer, "_peft_forward", peft_forward)
    with torch.no_grad():
        fused(input_ids=IDS)
    assert len(calls) == 1


def tiny_causal_lm_logits(model) -> torch.Tensor:
    with model.disable_adapter():
        return model(input_ids=IDS).logits


def test_a_fused_model_pickles_and_merges() -> None:
    fused = lora_model()
    fuse_lora_forward(fused)
    with torch.no_grad():
        expected = fused(input_ids=IDS).logits
        again = pickle.loads(pickle.dumps(fused))
        torch.testing.assert_close(again(input_ids=IDS).logits, expected)
        merged = fused.merge_and_unload()
        torch.testing.assert_close(merged(input_ids=IDS).logits, expected, atol=1e-5, rtol=1e-5)
