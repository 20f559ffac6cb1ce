"""A LoRA layer's output as one `addmm`: `base(x) + scaling * (A(x) @ B.T)`.

peft computes `result + lora_B(lora_A(dropout(x))) * scaling`: the `B` product, its scaled
copy and the sum are three full-width tensors (tokens x out_features) written in forward,
and backward multiplies the incoming full-width gradient by `scaling` again. On a CPU those
passes are bound by memory bandwidth: in a profiled SmolLM2-135M step (1,170 tokens, about
6 s) the scaling and the sums took 0.28 s, and 0.14 s fused (issue 19). `addmm` adds the
scaled rank-`r` product onto the base output in the GEMM's own output pass, and its
backward scales only the rank-wide gradient.

Only plain adapters take this path: one active adapter, unmerged, no DoRA or other peft
variant, no dropout module left in front of `A` (`lean_dropout` has fused it, or there
was none), a bias-free `B`, a `torch.nn.Linear` base, and a `B` that DeepSpeed ZeRO-3
does not manage (this forward reads `B.weight` without calling `B`, so ZeRO-3's hooks
would not gather a partitioned one). Every other call goes through peft's own forward.
Over bf16 base weights peft keeps the adapters in fp32 and computes them in fp32,
casting each input up and the sum back down (two more full-width passes); here they are
computed as `--bf16` autocast computes them, in the base's dtype over the fp32 weights,
whose gradients autograd casts back to fp32.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from tunekite.training.subclasses import subclass_of


def _forward(self: Any, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
    adapters = self.active_adapters
    name = adapters[0] if len(adapters) == 1 else None
    plain = (
        name is not None
        and not (args or kwargs or self.disable_adapters or self.merged)
        and name in self.lora_A
        and name not in getattr(self, "lora_variant", {})
        and isinstance(self.lora_dropout[name], torch.nn.Identity)
        and self.lora_B[name].bias is None
        and not hasattr(self.lora_B[name].weight, "ds_id")
    )
    if not plain:
        return self._peft_forward(x, *args, **kwargs)
    result = self.base_layer(x)
    down, up = self.lora_A[name], self.lora_B[name]
    device = x.device.type
    adapter_precision = contextlib.nullcontext()
    # under autocast `down` casts `x` to autocast's dtype itself: no cast to its weight's first
    if not torch.is_autocast_enabled(device):
        if up.weight.dtype == result.dtype:
            x = self._cast_input_dtype(x, down.weight.dtype)
        else:  # fp32 adapters over bf16 weights: computed as autocast would
            adapter_precision = torch.autocast(device, dtype=result.dtype)
    with adapter_precision:
        low_rank = down(x)
    with torch.autocast(device, enabled=False):
        return _AddLowRank.apply(result, low_rank, up.weight, self.scaling[name])


class _AddLowRank(torch.autograd.Function):
    """`result + alpha * low_rank @ weight.T` in `result`'s dtype, added onto `result` in
    place (a copy of the base output less per layer), each product in the layout
    MKL runs fastest at rank 8: `B.T` made contiguous for the forward (1.0 against 1.9 ms
    at 1,335 x 1,536) and `B`'s gradient as `(low_rank.T @ grad).T` (0.46 against 1.96 ms
    for autograd's `grad.T @ low_rank`)."""

    @staticmethod
    def forward(
        ctx: Any, result: torch.Tensor, low_rank: torch.Tensor, weight: torch.Tensor, alpha: float
    ) -> torch.Tensor:
        rank, width = low_rank.shape[-1], result.shape[-1]
        h = low_rank.reshape(-1, rank).to(result.dtype)
        w = weight.to(result.dtype)
        ctx.save_for_backward(h, w)
        ctx.alpha, ctx.low_rank_meta, ctx.weight_dtype = alpha, (low_rank.shape, low_rank.dtype), weight.dtype
        if result.is_contiguous():  # the base layer's own output, read by nothing else
            ctx.mark_dirty(result)
            result.view(-1, width).addmm_(h, w.t().contiguous(), alpha=alpha)
            return result
        return torch.addmm(result.reshape(-1, width), h, w.t().contiguous(), alpha=alpha).view(result.shape)

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        h, w = ctx.saved_tensors
        flat = grad.reshape(-1, grad.shape[-1])
        shape, dtype = ctx.low_rank_meta
        grad_low_rank = (flat @ w).mul_(ctx.alpha).view(shape).to(dtype) if ctx.needs_input_grad[1] else None
        grad_weight = None
        if ctx.needs_input_grad[2]:
            grad_weight = (h.t() @ flat).mul_(ctx.alpha).t().contiguous().to(ctx.weight_dtype)
        return grad if ctx.needs_input_grad[0] else None, grad_low_rank, grad_weight, None


def fuse_lora_forward(model: Any) -> int:
    """Give each peft LoRA `Linear` over a `torch.nn.Linear` base the fused forward (a
    subclass of its own class, so `isinstance` and peft's other methods still hold);
    returns how many layers took it."""
    from peft.tuners.lora.layer import Linear as LoraLinear

    fused = 0
    for module in model.modules():
        if type(module) is not LoraLinear or type(module.base_layer) is not torch.nn.Linear:
            continue
        methods = {"forward": _forward, "_peft_forward": LoraLinear.forward}
        module.__class__ = subclass_of(LoraLinear, "Fused", methods)
        fused += 1
    return fused
