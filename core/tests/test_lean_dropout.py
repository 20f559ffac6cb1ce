"""LoRA's fused input dropout: the values and gradients of dropout-then-`lora_A` for the
same mask, less memory kept for backward, and peft's DoRA left as it is."""

from __future__ import annotations

import pytest
import torch

from tunekite.testing import tiny_causal_lm
from tunekite.training.lean_dropout import DropoutLinear, fuse_lora_dropout


def lora_model(**config):
    from peft import LoraConfig, get_peft_model

    settings = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.5, "target_modules": "all-linear", **config}
    return get_peft_model(tiny_causal_lm(), LoraConfig(task_type="CAUSAL_LM", **settings))


def test_values_and_gradients_match_dropout_then_linear_for_the_same_mask() -> None:
    layer = torch.nn.Linear(6, 3, bias=False).double()
    layer.__class__, layer.p = DropoutLinear, 0.3
    x = torch.randn(2, 5, 6, dtype=torch.double, requires_grad=True)
    torch.manual_seed(7)
    out = layer(x)
    torch.manual_seed(7)
    mask = torch.rand_like(x, dtype=torch.float32) < 0.7
    weight = layer.weight.detach().clone().requires_grad_()
    reference_x = x.detach().clone().requires_grad_()
    expected = torch.nn.functional.linear(reference_x * mask / 0.7, weight)
    torch.testing.assert_close(out, expected)
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x.grad, reference_x.grad)
    torch.testing.assert_close(layer.weight.grad, weight.grad)


def test_evaluation_applies_no_dropout() -> None:
    model = lora_model()
    fuse_lora_dropout(model)
    model.eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(model(input_ids=ids).logits, model(input_ids=ids).logits)


def saved_bytes(model) -> int:
    seen: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=torch.randint(0, 128, (2, 16)), use_cache=False)
    return sum(seen.values())


def test_fused_layers_keep_less_for_backward_and_still_train() -> None:
    plain, fused = lora_model().train(), lora_model().train()
    assert fuse_lora_dropout(fused) == 2 * 7  # two layers of q, k, v, o, gate, up, down
    assert saved_bytes(fused) < 0.75 * saved_bytes(plain)
    for name, param in fused.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make every A gradient zero
            torch.nn.init.normal_(param)
    loss = fused(input_ids=torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss
    loss.backward()
    grads = [p.grad for n, p in fused.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("config", [{"use_dora": True}, {"lora_dropout": 0.0}])
def test_dora_and_dropout_free_adapters_are_left_alone(config) -> None:
    assert fuse_lora_dropout(lora_model(**config)) == 0
