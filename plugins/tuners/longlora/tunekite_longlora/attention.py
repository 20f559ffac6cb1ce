"""Shifted sparse attention (S2-Attn, LongLoRA section 3.2) as a transformers attention
function: registered with `AttentionInterface`, it replaces sdpa in every attention
layer of the model, with sdpa's masks (`AttentionMaskInterface`).

In training, the sequence is cut into groups of `ratio` of its length and each token
attends only within its group; half of the heads see the groups shifted by half a group,
so information flows between neighbouring groups. Masks are rolled with the heads, so a
token never sees a later one, and padding stays masked. In evaluation and generation it
is plain sdpa: LongLoRA trains with S2-Attn and infers with full attention.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import repeat_kv, sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

NAME = "longlora_s2attn"
"""The `attn_implementation` name the tuner sets."""


def shifted_sparse_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    ratio: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """sdpa's signature and output, (batch, length, heads, dim); `ratio` defaults to the
    model config's `longlora_group_size_ratio`."""
    length = query.shape[2]
    ratio = ratio if ratio is not None else module.config.longlora_group_size_ratio
    if not module.training or key.shape[2] != length or length < 2:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    groups_kv = getattr(module, "num_key_value_groups", 1)
    key, value = repeat_kv(key, groups_kv), repeat_kv(value, groups_kv)
    batch, heads, _, dim = query.shape
    group = max(2, math.ceil(length * ratio))
    padded = math.ceil(length / group) * group
    mask = _boolean_mask(attention_mask, batch, length, query.device)
    if padded > length:
        query, key, value = (
            torch.nn.functional.pad(t, (0, 0, 0, padded - length)) for t in (query, key, value)
        )
        mask = torch.nn.functional.pad(mask, (0, padded - length, 0, padded - length))
    half, shift = heads // 2, group // 2
    query, key, value = (_shift_heads(t, half, -shift) for t in (query, key, value))
    mask = torch.cat(
        [
            mask.expand(batch, half, padded, padded),
            mask.roll((-shift, -shift), (2, 3)).expand(batch, heads - half, padded, padded),
        ],
        dim=1,
    )
    blocks = padded // group
    mask = torch.diagonal(mask.view(batch, heads, blocks, group, blocks, group), dim1=2, dim2=4)
    mask = mask.permute(0, 4, 1, 2, 3).reshape(batch * blocks, heads, group, group)
    mask = mask | (~mask.any(-1, keepdim=True) & torch.eye(group, dtype=torch.bool, device=mask.device))

    def grouped(t: torch.Tensor) -> torch.Tensor:
        return (
            t.view(batch, heads, blocks, group, dim)
            .transpose(1, 2)
            .reshape(batch * blocks, heads, group, dim)
        )

    out = torch.nn.functional.scaled_dot_product_attention(
        grouped(query), grouped(key), grouped(value), attn_mask=mask, dropout_p=dropout, scale=scaling
    )
    out = out.view(batch, blocks, heads, group, dim).transpose(1, 2).reshape(batch, heads, padded, dim)
    out = _shift_heads(out, half, shift)[:, :, :length]
    return out.transpose(1, 2).contiguous(), None


def _boolean_mask(attention_mask: torch.Tensor | None, batch: int, length: int, device: Any) -> torch.Tensor:
    """(batch, 1, length, length), True where attending is allowed; sdpa's mask function
    gives None when plain causal attention is enough."""
    if attention_mask is None:
        causal = torch.ones(length, length, dtype=torch.bool, device=device).tril()
        return causal.expand(batch, 1, length, length)
    if attention_mask.dtype != torch.bool:
        attention_mask = attention_mask == 0  # an additive float mask: 0 where allowed
    return attention_mask[:, :, :, :length].expand(batch, 1, length, length)


def _shift_heads(t: torch.Tensor, half: int, shift: int) -> torch.Tensor:
    """`t` (batch, heads, length, dim) with the heads from `half` on rolled by `shift` positions."""
    return torch.cat([t[:, :half], t[:, half:].roll(shift, dims=2)], dim=1)


def register() -> str:
    """Make `NAME` an attention implementation (idempotent); returns the name."""
    AttentionInterface.register(NAME, shifted_sparse_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME
