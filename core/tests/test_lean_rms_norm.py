"""The lean RMSNorm: bitwise the same outputs, gradients as close to exact as autograd's,
no fp32 copy of a bf16 input kept, and norms of another formula left alone."""

from __future__ import annotations

import copy

import pytest
import torch

from tunekite.testing import assert_same_logits_and_grads, logits_and_grads, tiny_lora_model
from tunekite.training.lean_rms_norm import lean_rms_norms

IDS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(7))


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_logits_are_bitwise_and_gradients_match_autograd_s(bf16: bool) -> None:
    lean = tiny_lora_model()
    reference = copy.deepcopy(lean)
    assert lean_rms_norms(lean) == 2 * 2 + 1  # two per layer and the final one
    embeds = lean.get_input_embeddings()(IDS)
    actual, expected = logits_and_grads(lean, embeds, bf16), logits_and_grads(reference, embeds, bf16)
    assert_same_logits_and_grads(actual, expected, rtol=1e-4, atol=1e-6)


def norm_and_input(dtype: torch.dtype, trained_weight: bool = False):
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    norm = LlamaRMSNorm(96, eps=1e-5)
    with torch.no_grad():
        norm.weight.normal_(1.0, 0.3, generator=torch.Generator().manual_seed(3))
    norm = norm.to(dtype).requires_grad_(trained_weight)
    x = (3 * torch.randn(2, 40, 96, generator=torch.Generator().manual_seed(4))).to(dtype)
    grad = torch.randn(2, 40, 96, generator=torch.Generator().manual_seed(5)).to(dtype)
    return norm, x, grad


def exact_gradients(norm: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    """The formula's gradients in fp64 (the module itself computes in fp32 whatever it gets)."""
    x, weight = (t.detach().double().requires_grad_() for t in (x, norm.weight))
    scale = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + norm.variance_epsilon)
    (weight * x * scale).backward(grad.double())
    return [x.grad, weight.grad]


def gradients(norm: torch.nn.Module, x: torch.Tensor, grad: torch.Tensor) -> list[torch.Tensor]:
    x = x.detach().clone().requires_grad_()
    norm.zero_grad()
    norm(x).backward(grad)
    return [x.grad] + ([norm.weight.grad] if norm.weight.requires_grad else [])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
def test_input_and_weight_gradients_are_as_close_to_exact_as_autograd_s(dtype: torch.dtype) -> None:
    norm, x, grad = norm_and_input(dtype, trained_weight=True)
    exact = exact_gradients(norm, x, grad)
    autograd = gradients(norm, x, grad)
    assert lean_rms_norms(norm) == 1
    lean = gradients(norm, x, grad)
    for ours, theirs, truth in zip(lean, autograd, exact, strict=True):
        assert ours.dtype == theirs.dtype == dtype
        error, autograd_error = ((t.double() - truth).abs().mean() for t in (ours, theirs))
        assert error <= 1.05 * autograd_error + 1e-12


def saved_bytes(norm: torch.nn.Module, x: torch.Tensor) -> int:
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        norm(x.detach().clone().requires_grad_())
    return sum(seen.values())


def test_a_bf16_input_is_kept_as_it_came_not_as_an_fp32_copy() -> None:
    norm, x, _ = norm_and_input(torch.bfloat16)
    before = saved_bytes(norm, x)
    lean_rms_norms(norm)
    tokens = x.numel() // x.shape[-1]
    kept = x.numel() * 2 + tokens * 4 + norm.weight.numel() * 2  # input, fp32 scale per token, weight
    assert saved_bytes(norm, x) == kept < before


def test_without_gradients_the_norm_s_own_forward_runs() -> None:
    norm, x, _ = norm_and_input(torch.float32)
    lean_rms_norms(norm)
    with torch.no_grad():
        out = norm(x)
    assert out.grad_fn is None and type(norm).__name__ == "LeanLlamaRMSNorm"
    assert norm(x.requires_grad_()).grad_fn.name() == "_RMSNormBackward"


def test_a_norm_computing_something_else_keeps_its_forward() -> None:
    """Gemma's formula scales by `1 + weight`: the probe tells it apart."""
    from transformers.models.llama.modeling_llama import LlamaRMSNorm

    class OnePlusNorm(LlamaRMSNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x32 = x.float()
            normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.variance_epsilon)
            return ((1.0 + self.weight.float()) * normed).to(x.dtype)

    norm = OnePlusNorm(16)
    assert lean_rms_norms(norm) == 0 and type(norm) is OnePlusNorm


def test_a_lean_model_pickles_and_is_not_changed_twice() -> None:
    import pickle

    model = tiny_lora_model()
    assert lean_rms_norms(model) == 5
    assert lean_rms_norms(model) == 0
    again = pickle.loads(pickle.dumps(model))
    assert type(again.base_model.model.model.norm).__name__ == "LeanLlamaRMSNorm"
