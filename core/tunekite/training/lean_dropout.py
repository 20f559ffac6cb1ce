"""LoRA's input dropout without a second copy of every input held for backward.

peft computes `lora_B(lora_A(dropout(x)))`: `lora_A` keeps `dropout(x)` for its weight
gradient, a float copy of `x` per adapted layer, and the dropout keeps its mask as another
float tensor of that size, while q/k/v (and gate/up) read one shared `x`. On SmolLM2-135M
with all-linear LoRA (one 1,024-token row, issue 19) that was 601 MiB of copies and 578 MiB
of masks, half of the 2.2 GB saved for backward. Here dropout and `lora_A` are one autograd
step that keeps `x` (shared) and only the seed of its mask, which backward draws again.
In float32 keeping the mask as booleans instead kept 146 MiB per 1,024 tokens more (11 % of
what the decoder saves; `tk run sft` peak RSS on a 1,315-token batch 3,269 against 3,102 MB),
for one mask draw per adapter in backward: with `dropout_mask`'s raw-bit draws, about 0.1 s
of a 6 s SmolLM2-135M step of 1,170 tokens. In half precision the step is shorter and the
draws are not: drawing masks took 13 % of a bf16 SmolLM2-135M step, half of it in backward
(issue 19), so in layers whose weights are bf16 or fp16 the mask is kept, in that dtype
(two bytes per entry). Over float32 weights (`--bf16` autocast included) it is drawn
again: keeping it there took that mode's peak RSS from 2,853 to 3,040 MiB, over 3 GB.
"""

from __future__ import annotations

from typing import Any

import torch


def dropout_mask(like: torch.Tensor, keep: float, seed: int) -> torch.Tensor:
    """The mask dropout multiplies a tensor shaped like `like` by, drawn from `seed`: int8 1
    where a 16-bit draw falls below `keep` (a probability within 8e-6 of it), else 0.

    The bits come from 64-bit draws, four entries each; on a CPU from numpy's SFC64, whose
    raw output is about twice as fast as PCG64DXSM's or torch's generator (0.28 against
    0.64 and 0.61 ms for 136k words), itself four times faster at raw bits than at floats.
    `rand < keep` (or `bernoulli_`, without MKL's Intel-only path) made mask drawing a
    sixth of a SmolLM2-135M LoRA step; SFC64 instead of PCG64DXSM made a 12-step bf16 run
    about 5 % faster (issue 19). The comparison writes int8, which multiplies a float
    tensor directly (the product takes the float's dtype) as fast as a float mask of that
    dtype does (0.22 against 0.23 ms per 1,170 x 576 bf16 entries, 0.25 against 0.32 in
    fp32, the float mask not counted); CPU kernels on booleans are not vectorized, and a
    boolean mask (`lt`, then `where` to apply it) cost 1.5 ms there."""
    count = like.numel()
    words = (count + 3) // 4
    if like.device.type == "cpu":
        import numpy

        bits = torch.from_numpy(numpy.random.SFC64(seed).random_raw(words).view(numpy.int16))
    else:
        generator = torch.Generator(device=like.device).manual_seed(seed)
        bits = torch.empty(words, dtype=torch.int64, device=like.device)
        bits = bits.random_(-(2**63), None, generator=generator).view(torch.int16)
    kept = torch.empty(count, dtype=torch.int8, device=like.device)
    return torch.lt(bits[:count], round(keep * 65536) - 32768, out=kept).view(like.shape)


class _DropoutLinear(torch.autograd.Function):
    """`(x * mask / keep) @ weight.T` computed in `dtype` (autocast's), saving `x` as it came
    (one tensor for the adapters that share it) and, if `keeps_mask`, the mask, else its
    seed. Keeping it as int8 made 12-step SmolLM2-135M runs on bf16 weights about 4 %
    faster (43.0 against 44.7 s, alternating) at 230 MB more peak RSS; keeping it in
    `dtype` spares backward's two products a conversion each (int8 to bf16 was 49 ms of a
    948-token step's 1.9 s of operators) at about 190 MiB more peak RSS (2,130 against 1,936).

    `1 / keep` scales the rank-wide side (output, incoming gradient), not the input-wide
    one: one elementwise pass over `x` per use of the mask instead of two."""

    @staticmethod
    def forward(
        ctx: Any,
        x: torch.Tensor,
        weight: torch.Tensor,
        p: float,
        seed: int,
        dtype: torch.dtype,
        keeps_mask: bool,
    ) -> torch.Tensor:
        keep = 1.0 - p
        ctx.keep, ctx.seed, ctx.dtype = keep, seed, dtype
        kept = dropout_mask(x, keep, seed)
        if keeps_mask:  # in the compute dtype: backward's two products then convert nothing
            kept = kept.to(dtype)
        ctx.save_for_backward(x, weight, *([kept] if keeps_mask else []))
        return torch.nn.functional.linear(x.to(dtype) * kept, weight.to(dtype)) / keep

    @staticmethod
    def backward(
        ctx: Any, grad: torch.Tensor
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, None, None, None, None]:
        x, weight, *saved = ctx.saved_tensors
        kept = saved[0] if saved else dropout_mask(x, ctx.keep, ctx.seed)
        grad = grad.to(ctx.dtype) / ctx.keep
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight.to(ctx.dtype)).mul_(kept).to(x.dtype)
        if ctx.needs_input_grad[1]:
            dropped = (x.to(ctx.dtype) * kept).reshape(-1, x.shape[-1])
            grad_w = (grad.reshape(-1, grad.shape[-1]).T @ dropped).to(weight.dtype)
        return grad_x, grad_w, None, None, None, None


class DropoutLinear(torch.nn.Linear):
    """A LoRA `A` matrix with its input dropout built in; state-dict keys stay `weight`. The
    seed comes from torch's generator, so `torch.manual_seed` (and gradient checkpointing's
    replay of the RNG state) gives the same masks. `keeps_mask`: keep each mask for backward
    instead of its seed (set for adapters of bf16 and fp16 layers)."""

    p: float = 0.0
    keeps_mask: bool = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.p and torch.is_grad_enabled()):
            return super().forward(x)
        device = x.device.type
        autocast = torch.is_autocast_enabled(device)
        dtype = torch.get_autocast_dtype(device) if autocast else self.weight.dtype
        seed = int(torch.randint(0, 2**62, (), device="cpu"))
        with torch.autocast(device, enabled=False):
            return _DropoutLinear.apply(x, self.weight, self.p, seed, dtype, self.keeps_mask)


def fuse_lora_dropout(model: Any) -> int:
    """Replace each bias-free `lora_A` behind an `nn.Dropout` by a `DropoutLinear` (and the
    dropout by an identity); returns how many were fused. Adapters whose forward reads
    the dropped input elsewhere (DoRA and peft's other LoRA variants) are left alone."""
    fused = 0
    for module in model.modules():
        dropouts, downs = getattr(module, "lora_dropout", None), getattr(module, "lora_A", None)
        if not isinstance(dropouts, torch.nn.ModuleDict) or not isinstance(downs, torch.nn.ModuleDict):
            continue
        for name in [n for n in dropouts if n in downs]:
            dropout, down = dropouts[name], downs[name]
            variant = getattr(module, "use_dora", {}).get(name) or name in getattr(module, "lora_variant", {})
            plain = type(down) is torch.nn.Linear and down.bias is None
            if variant or not plain or not isinstance(dropout, torch.nn.Dropout):
                continue
            down.__class__ = DropoutLinear
            down.p = dropout.p
            down.keeps_mask = _half_precision(module)
            dropouts[name] = torch.nn.Identity()
            fused += 1
    return fused


def _half_precision(layer: torch.nn.Module) -> bool:
    """Whether the adapted layer's own weight (peft's base layer) is bf16 or fp16."""
    base = getattr(layer, "get_base_layer", lambda: layer)()
    weight = getattr(base, "weight", None)
    return isinstance(weight, torch.Tensor) and weight.dtype in (torch.bfloat16, torch.float16)
