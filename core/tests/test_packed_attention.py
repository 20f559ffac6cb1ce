"""Per-sample SDPA over padding-free rows: the same logits and gradients as transformers'
masked whole-row attention, each sample attended alone, everything else unchanged; the
flash kernel's path bitwise the same as SDPA's, keeping the attention output once."""

from __future__ import annotations

from itertools import pairwise

import pytest
import torch
from transformers import AttentionInterface

from tunekite.testing import tiny_causal_lm
from tunekite.training import packed_attention
from tunekite.training.packed_attention import packed_sdpa_forward, use_packed_attention

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
    flash = packed_attention._flash_attention

    def flash_spy(query, key, value, scale):
        calls.append((query.shape[2], True))  # the kernel SDPA dispatches to: causal, no mask
        return flash(query, key, value, scale)

    monkeypatch.setattr(packed_attention, "_flash_attention", flash_spy)
    return calls


def row() -> tuple[torch.Tensor, torch.Tensor]:
    torch.manual_seed(3)
    ids = torch.randint(0, 128, (1, sum(LENGTHS)))
    positions = torch.cat([torch.arange(n) for n in LENGTHS]).unsqueeze(0)
    return ids, positions


def logits_and_grads(
    ids: torch.Tensor, bf16: bool = False, **inputs
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    model = tiny_causal_lm(attn_implementation="sdpa")
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        logits = model(input_ids=ids, use_cache=False, **inputs).logits  # a cache turns off packed masks
    logits.float().square().mean().backward()
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


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_the_flash_path_is_bitwise_the_sdpa_path_and_keeps_the_output_once(packed, monkeypatch, bf16) -> None:
    """Against each sample through `sdpa_attention_forward` (the path taken when the call has
    arguments the flash path does not honour): equal logits, equal fp32 gradients (bf16
    ones differ by rounding: that backward runs in fp32), and per layer one (tokens x
    hidden) tensor less kept for backward."""
    ids, positions = row()
    saved = []

    def run() -> tuple[torch.Tensor, list[torch.Tensor]]:
        storages: dict[int, int] = {}

        def pack(tensor: torch.Tensor) -> torch.Tensor:
            storages[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            result = logits_and_grads(ids, bf16, position_ids=positions)
        saved.append(sum(storages.values()))
        return result

    logits, grads = run()
    monkeypatch.setattr(packed_attention, "_PLAIN_KWARGS", set())
    expected, expected_grads = run()
    assert torch.equal(logits, expected)
    for grad, reference in zip(grads, expected_grads, strict=True):
        if bf16:
            torch.testing.assert_close(grad, reference, rtol=2e-2, atol=1e-4)
        else:
            assert torch.equal(grad, reference)
    config = tiny_causal_lm().config
    width = (2 if bf16 else 4) * sum(LENGTHS) * config.hidden_size
    assert saved[1] - saved[0] == config.num_hidden_layers * width


def test_a_sample_longer_than_the_sliding_window_takes_the_masked_row(sdpa_lengths) -> None:
    """Per-sample causal attention would let it see past the window: the whole row goes
    through SDPA with the model's mask instead (a window wider than every sample: per sample)."""
    _, positions = row()
    size = sum(LENGTHS)
    block = torch.block_diag(*(torch.ones(n, n, dtype=torch.bool).tril() for n in LENGTHS))
    mask = block.view(1, 1, size, size)
    query, key = torch.randn(1, 4, size, 8), torch.randn(1, 2, size, 8)
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = 2, True
    for window, expected in [(4, [(size, False)]), (9, [(n, True) for n in LENGTHS])]:
        sdpa_lengths.clear()
        packed_sdpa_forward(module, query, key, key, mask, position_ids=positions, sliding_window=window)
        assert sdpa_lengths == expected, window


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_reduced_precision_backward_runs_in_fp32_and_is_closer_to_exact_than_sdpas(dtype) -> None:
    """Gradients of bf16/fp16 attention (grouped-query, three samples) against fp64: the
    flash path's fp32 backward errs less than SDPA's own backward in that dtype."""
    torch.manual_seed(0)
    bounds = (0, 40, 100, 131)
    shapes = [(1, 6, 131, 16), (1, 2, 131, 16), (1, 2, 131, 16)]
    inputs = [torch.randn(shape).to(dtype).double() for shape in shapes]  # exact in `dtype`
    upstream = torch.randn(1, 131, 6, 16).to(dtype).double()

    def grads(attend, cast: torch.dtype) -> list[torch.Tensor]:
        leaves = [t.to(cast, copy=True).requires_grad_(True) for t in inputs]
        (attend(*leaves) * upstream.to(cast)).sum().backward()
        return [leaf.grad.double() for leaf in leaves]

    def per_sample(query, key, value):
        repeat = query.shape[1] // key.shape[1]
        key, value = key.repeat_interleave(repeat, 1), value.repeat_interleave(repeat, 1)
        outputs = [
            torch.nn.functional.scaled_dot_product_attention(
                query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True
            )
            for a, b in pairwise(bounds)
        ]
        return torch.cat(outputs, dim=2).transpose(1, 2)

    exact = grads(per_sample, torch.float64)
    ours = grads(lambda q, k, v: packed_attention._PackedCausalAttention.apply(q, k, v, bounds, None), dtype)
    sdpa = grads(per_sample, dtype)
    for mine, theirs, truth in zip(ours, sdpa, exact, strict=True):
        assert (mine - truth).abs().mean() < (theirs - truth).abs().mean()
