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
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch


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
    if starts is None:
        return sdpa_attention_forward(module, query, key, value, attention_mask, *args, **kwargs)
    kwargs.pop("is_causal", None)
    bounds = [*starts, query.shape[2]]
    outputs = [
        sdpa_attention_forward(
            module, query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], None, *args, is_causal=True, **kwargs
        )[0]
        for a, b in pairwise(bounds)
    ]
    return torch.cat(outputs, dim=1), None


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
