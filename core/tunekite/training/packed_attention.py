"""SDPA over a padding-free row one sample at a time, instead of over the whole row with a
block-diagonal mask.

For a padding-free batch (one row of samples, `position_ids` restarting per sample)
transformers builds a (tokens x tokens) mask that keeps each sample to itself, and SDPA
then computes every entry of the row's attention, masked or not: the CPU kernel skips
the blocks above the diagonal only under `is_causal`, never under a mask. Four samples
of ~330 tokens cost 4x the attention of the samples alone, and at that size attention
was ~40 % of a bf16 LoRA step of SmolLM2-135M (issue 19). Here each sample's slice of
the row goes through transformers' own `sdpa_attention_forward` with `is_causal=True`:
the same attention pattern, the same kernel, its work proportional to sum(n_i^2)/2.
Every other call (padded batches, generation, a mask that lets samples see each other,
tensors off the CPU) is passed to `sdpa_attention_forward` unchanged.

Without attention dropout the samples go straight to the CPU flash kernel that SDPA
dispatches to (`_PackedCausalAttention`), each writing its output into one
(tokens x heads x head_dim) tensor. That tensor is what the output projection reads, and
backward hands slices of it to the kernel's backward, so the attention output is kept
once. Through SDPA it was kept twice per layer: SDPA's own (heads x tokens) output for its
backward, and the transposed copy the output projection's adapter keeps (2.25 KiB per token
and layer for SmolLM2-135M, 67.5 MiB per 1,024 tokens). Outputs are the kernel's own,
bitwise those of the SDPA path, and so are fp32 gradients; a bf16 (fp16) backward runs in
fp32 (`_UPCAST_BACKWARD`), faster there and closer to exact than SDPA's (tested).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch

_PLAIN_KWARGS = {
    "dropout",
    "scaling",
    "sliding_window",
    "use_cache",
    "output_attentions",
    "output_hidden_states",
}
"""The arguments `_PackedCausalAttention` honours or that do not change attention (SDPA
returns no weights either); with any other (a softcap, a position bias, attention sinks)
each sample goes through `sdpa_attention_forward`."""


def packed_sdpa_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    *args: Any,
    position_ids: torch.Tensor | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature; query/key/value are (batch, heads,
    tokens, head_dim), the output (batch, tokens, heads, head_dim)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    starts = _sample_starts(query, key, attention_mask, position_ids)
    bounds = None if starts is None else [*starts, query.shape[2]]
    window = kwargs.get("sliding_window")
    if bounds is None or (window and max(b - a for a, b in pairwise(bounds)) > window):
        return sdpa_attention_forward(module, query, key, value, attention_mask, *args, **kwargs)
    kwargs.pop("is_causal", None)
    dropout = kwargs.get("dropout", args[0] if args else 0.0)
    scale = kwargs.get("scaling", args[1] if len(args) > 1 else None)
    same_width = query.shape[-1] == key.shape[-1] == value.shape[-1]
    if not dropout and same_width and len(args) <= 2 and set(kwargs) <= _PLAIN_KWARGS:
        return _PackedCausalAttention.apply(query, key, value, tuple(bounds), scale), None
    outputs = [
        sdpa_attention_forward(
            module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, *args, is_causal=True, **kwargs
        )[0]
        for a, b in pairwise(bounds)
    ]
    return torch.cat(outputs, dim=1), None


_UPCAST_BACKWARD = (torch.bfloat16, torch.float16)
"""Dtypes whose backward runs in fp32. The CPU kernel's reduced-precision backward runs its
block products through oneDNN GEMM primitives made for each block shape, that is anew for
each sample length; its fp32 backward builds none (`ONEDNN_VERBOSE=profile_create`: six
for one 150-token bf16 sample, none in fp32). Timed per call inside bf16
SmolLM2-135M training (issue 19, calls assigned at random): fp32 was faster at every
sample length up to 512 tokens (2.1 against 3.6 ms at 128-191, 4.7 against 6.0 at
256-319, 10.6 against 11.7 at 448 and over), and its gradients are the more accurate.
The forward stays in the reduced dtype, which was faster there at every length."""


class _PackedCausalAttention(torch.autograd.Function):
    """Causal attention of each `bounds` slice of a one-row (1, heads, tokens, head_dim)
    query alone (keys and values may have fewer heads: grouped-query attention), into one
    (1, tokens, heads, head_dim) output kept for backward; under autocast in its dtype,
    as SDPA is, and its backward in fp32 (`_UPCAST_BACKWARD`)."""

    @staticmethod
    def forward(
        ctx: Any,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        bounds: tuple[int, ...],
        scale: float | None,
    ) -> torch.Tensor:
        ctx.input_dtypes = (query.dtype, key.dtype, value.dtype)
        if torch.is_autocast_enabled("cpu"):
            dtype = torch.get_autocast_dtype("cpu")
            query, key, value = (t.to(dtype) for t in (query, key, value))
        output = query.new_empty(1, query.shape[2], query.shape[1], query.shape[3])
        logsumexps = []
        for a, b in pairwise(bounds):
            sample, logsumexp = _flash_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], scale)
            output[:, a:b] = sample.transpose(1, 2)
            logsumexps.append(logsumexp)
        ctx.save_for_backward(query, key, value, output, *logsumexps)
        ctx.bounds, ctx.scale = bounds, scale
        return output

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, None, None]:
        query, key, value, output, *logsumexps = ctx.saved_tensors
        if output.dtype in _UPCAST_BACKWARD:
            query, key, value, output = (t.float() for t in (query, key, value, output))
        grads = [torch.empty_like(t) for t in (query, key, value)]
        grad = grad.to(output.dtype)
        for (a, b), logsumexp in zip(pairwise(ctx.bounds), logsumexps, strict=True):
            rows = (slice(None), slice(None), slice(a, b))
            sample_grads = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward(
                grad[:, a:b].transpose(1, 2),
                query[rows],
                key[rows],
                value[rows],
                output[:, a:b].transpose(1, 2),
                logsumexp,
                0.0,
                True,
                scale=ctx.scale,
            )
            for whole, part in zip(grads, sample_grads, strict=True):
                whole[rows] = part
        grad_query, grad_key, grad_value = (g.to(d) for g, d in zip(grads, ctx.input_dtypes, strict=True))
        return grad_query, grad_key, grad_value, None, None


def _flash_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One sample's causal attention and its log-sum-exp, by the CPU flash kernel."""
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, True, scale=scale
    )


def _sample_starts(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None, position_ids: torch.Tensor | None
) -> list[int] | None:
    """Where each sample of a padding-free row starts (position ids not following on,
    transformers' own rule), when the row is one batch item of several samples without a
    cache and its mask keeps samples apart (a boolean mask that blocks each sample's first
    token from the token before it), on the CPU (measured there; on a GPU a kernel launch
    per sample may cost more than the masked entries); else None."""
    single_row = query.device.type == "cpu" and query.shape[0] == 1 and query.shape[2] == key.shape[2] > 1
    if not single_row or position_ids is None or mask is None or mask.dtype != torch.bool:
        return None
    positions = position_ids[0]
    if positions.shape[0] != query.shape[2]:
        return None
    starts = (torch.diff(positions) != 1).nonzero().squeeze(-1) + 1
    if not len(starts) or mask[0, 0, starts, starts - 1].any():
        return None
    return [0, *starts.tolist()]


def use_packed_attention() -> None:
    """Route transformers' `sdpa` attention through `packed_sdpa_forward` in this process
    (idempotent); models that use another attention implementation are unaffected."""
    from transformers import AttentionInterface

    AttentionInterface.register("sdpa", packed_sdpa_forward)
