"""Per-sample SDPA over padding-free rows: the same logits and gradients as transformers'
masked whole-row attention, each sample attended alone, everything else unchanged."""

from __future__ import annotations

import pytest
import torch
from transformers import AttentionInterface

from tunekite.testing import tiny_causal_lm
from tunekite.training.packed_attention import use_packed_attention

LENGTHS = (5, 9, 3)


@pytest.fixture
def packed(monkeypatch):
    """`use_packed_attention()` for one test, transformers' own `sdpa` again afterwards."""
    monkeypatch.setattr(AttentionInterface, "_global_mapping", dict(AttentionInterface._global_mapping))
    use_packed_attention()


@pytest.fixture
def sdpa_lengths(monkeypatch) -> list[tuple[int, bool]]:
    """(query tokens, causal without a mask) of every SDPA kernel call."""
    calls: list[tuple[int, bool]] = []
    kernel = torch.nn.functional.scaled_dot_product_attention

    def spy(query, key, value, attn_mask=None, *args, is_causal=False, **kwargs):
        calls.append((query.shape[2], attn_mask is None and is_causal))
        return kernel(query, key, value, attn_mask, *args, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return calls


def row() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    ids = torch.randint(0, 128, (1, sum(LENGTHS)))
    positions = torch.cat([torch.arange(n) for n in LENGTHS]).unsqueeze(0)
    return ids, positions


def logits_and_grads(ids: torch.Tensor, **inputs) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model = tiny_causal_lm(attn_implementation="sdpa")
    logits = model(input_ids=ids, use_cache=False, **inputs).logits  # a cache turns off packed masks
    logits.square().mean().backward()
    return logits.detach(), [p.grad for p in model.parameters()]


def test_padding_free_row_matches_the_masked_whole_row(packed, sdpa_lengths) -> None:
    ids, positions = row()
    logits, grads = logits_and_grads(ids, position_ids=positions)
    assert sdpa_lengths == [(n, True) for _layer in range(2) for n in LENGTHS]  # each sample alone, causal
    sdpa_lengths.clear()
    with pytest.MonkeyPatch.context() as restore:  # transformers' own sdpa, masked whole row
        restore.setattr(AttentionInterface, "_global_mapping", dict(AttentionInterface._global_mapping))
        from transformers.integrations.sdpa_attention import sdpa_attention_forward

        AttentionInterface.register("sdpa", sdpa_attention_forward)
        expected, expected_grads = logits_and_grads(ids, position_ids=positions)
    assert sdpa_lengths == [(sum(LENGTHS), False)] * 2
    torch.testing.assert_close(logits, expected)
    for grad, reference in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, reference)


def test_each_sample_of_the_row_gets_its_own_logits(packed) -> None:
    ids, positions = row()
    logits, _ = logits_and_grads(ids, position_ids=positions)
    start = 0
    for n in LENGTHS:
        alone, _ = logits_and_grads(ids[:, start : start + n])
        torch.testing.assert_close(logits[:, start : start + n], alone)
        start += n


def test_padded_batches_and_single_samples_take_the_whole_row_path(packed, sdpa_lengths) -> None:
    ids = torch.randint(0, 128, (2, 7))
    mask = torch.tensor([[1] * 7, [0, 0] + [1] * 5])
    logits_and_grads(ids, attention_mask=mask)
    logits_and_grads(ids[:1])
    assert [n for n, _ in sdpa_lengths] == [7] * 4
