"""A gated MLP's `act(gate) * up` as one autograd step that keeps `gate` and `up` only.

Llama-style MLPs compute `down(act(gate(x)) * up(x))`. Autograd keeps `gate` for the
activation's backward and both factors of the product, `act(gate)` and `up`, for the
product's: three intermediate-width tensors per layer and token, of which `act(gate)` is
recomputed from `gate` in one elementwise pass. For SmolLM2-135M (intermediate size 1,536,
fp32) that copy is 180 MiB of the 1.25 GiB a LoRA step keeps per 1,024 tokens (issue 19).
Forward and both gradients are computed with the same kernels, in the same order, as
autograd's, so results are bitwise the same. The product itself, which `down_proj`'s
adapter keeps for its weight gradient, is offered to `recompute` (recomputed from `gate`
and `up` in backward when the trainer's forward runs inside `recomputing()`).

A module is taken when its class has `gate_proj`, `up_proj`, `down_proj` and `act_fn` and
its own forward computes exactly `down(act(gate(x)) * up(x))` on a probe input (checked
once per class); any other MLP keeps its forward.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import torch

from tunekite.training.recompute import recomputable
from tunekite.training.subclasses import lean_forwards


class _GatedProduct(torch.autograd.Function):
    """`act(gate) * up`, saving `gate` and `up`; `act` is an elementwise module."""

    @staticmethod
    def forward(ctx: Any, gate: torch.Tensor, up: torch.Tensor, act: torch.nn.Module) -> torch.Tensor:
        ctx.save_for_backward(gate, up)
        ctx.act = act
        return _product(act, gate, up)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor | None, None]:
        gate, up = ctx.saved_tensors
        grad_gate = grad_up = None
        if ctx.needs_input_grad[1]:
            grad_up = grad * ctx.act(gate)
        if ctx.needs_input_grad[0]:
            grad_gate = _act_backward(ctx.act, grad * up, gate)
        return grad_gate, grad_up, None


def _act_backward(act: torch.nn.Module, grad: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
    """The gradient through `act` at `gate`: SiLU's own backward kernel, else autograd's
    over a recomputed activation."""
    if _is_silu(act):
        return torch.ops.aten.silu_backward(grad, gate)
    with torch.enable_grad():
        leaf = gate.detach().requires_grad_()
        return torch.autograd.grad(act(leaf), leaf, grad)[0]


def _is_silu(act: torch.nn.Module) -> bool:
    """torch's SiLU or transformers' `SiLUActivation`, which Llama-style configs' `silu`
    builds (both `F.silu`); any other activation is differentiated by autograd, which for
    SmolLM2-135M ran SiLU once more per layer."""
    cls = type(act)
    return cls is torch.nn.SiLU or (cls.__name__, cls.__module__) == (
        "SiLUActivation",
        "transformers.activations",
    )


def _product(act: torch.nn.Module, gate: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    return act(gate) * up


def _forward(self: Any, x: torch.Tensor) -> torch.Tensor:
    if not torch.is_grad_enabled():
        return self._dense_forward(x)
    gate, up = self.gate_proj(x), self.up_proj(x)
    product = _GatedProduct.apply(gate, up, self.act_fn)
    recomputable(product, partial(_product, self.act_fn), gate, up)
    return self.down_proj(product)


def _is_gated(module: torch.nn.Module) -> bool:
    """Whether `module` computes `down(act(gate(x)) * up(x))`: its own forward against the
    formula on a seeded random input, in eval mode (no dropout) and without gradients."""
    parts = [getattr(module, n, None) for n in ("gate_proj", "up_proj", "down_proj", "act_fn")]
    if not all(isinstance(p, torch.nn.Module) for p in parts) or not hasattr(parts[0], "in_features"):
        return False
    gate, up, down, act = parts
    weight = next(gate.parameters(), None)
    if weight is None or weight.device.type == "meta":
        return False
    dtype = weight.dtype if weight.is_floating_point() else torch.get_default_dtype()  # 4-bit: packed
    seeded = torch.Generator(weight.device).manual_seed(0)
    probe = torch.randn((1, 3, gate.in_features), generator=seeded, dtype=dtype, device=weight.device)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            return torch.equal(module(probe), down(act(gate(probe)) * up(probe)))
    finally:
        module.train(was_training)


def lean_gated_mlps(model: torch.nn.Module) -> int:
    """Give every gated MLP of `model` the lean product; returns how many were changed."""
    return lean_forwards(model, _is_gated, _forward)
