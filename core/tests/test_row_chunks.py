"""`--padding_free_chunk_tokens`: a padding-free row cut between samples, trained chunk by
chunk into the same loss and gradients as the whole row, and refused where it cannot work."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest
import torch
from transformers import Seq2SeqTrainingArguments

from tunekite.constants import IGNORE_INDEX
from tunekite.data.collate import PaddingFreeCollator
from tunekite.errors import ArgumentError
from tunekite.testing import tiny_causal_lm
from tunekite.training.batching import choose_batching
from tunekite.training.row_chunks import row_chunks
from tunekite.training.trainer import TunekiteTrainer


def row(lengths: list[int], seed: int = 0) -> dict[str, torch.Tensor]:
    """A padding-free row of samples of these lengths: prompt untrained, reply weighted."""
    rng = random.Random(seed)
    features = []
    for size in lengths:
        prompt = size // 3
        ids = [rng.randrange(1, 128) for _ in range(size)]
        scale = [0.0] * prompt + [rng.uniform(0.5, 2.0) for _ in range(size - prompt)]
        labels = [IGNORE_INDEX] * prompt + ids[prompt:]
        features.append({"input_ids": ids, "labels": labels, "loss_scale": scale})
    return PaddingFreeCollator()(features)


def test_chunks_are_whole_samples_within_the_budget() -> None:
    inputs = row([5, 4, 9, 3, 2, 12])
    chunks = row_chunks(inputs, budget=10)
    assert [c["input_ids"].shape[1] for c in chunks] == [9, 9, 5, 12]  # 5+4 | 9 | 3+2 | 12 alone
    for name, value in inputs.items():
        assert torch.equal(torch.cat([c[name] for c in chunks], dim=1), value)
    assert all(c["position_ids"][0, 0] == 0 for c in chunks)  # every cut is at a sample's start


def test_a_row_within_the_budget_or_not_padding_free_stays_whole() -> None:
    inputs = row([5, 4])
    assert row_chunks(inputs, budget=9) is None
    assert row_chunks(row([20]), budget=8) is None  # one sample: nothing to cut between
    padded = {"input_ids": torch.ones(2, 6, dtype=torch.long), "labels": torch.ones(2, 6, dtype=torch.long)}
    assert row_chunks(padded, budget=4) is None


def test_a_row_with_values_that_are_not_per_token_is_refused() -> None:
    inputs = {**row([5, 4, 6]), "pixel_values": torch.zeros(1, 3, 8, 8)}
    with pytest.raises(ArgumentError, match="'pixel_values'"):
        row_chunks(inputs, budget=8)


def trained(chunk_tokens: int | None, inputs: dict, tmp_path) -> tuple[float, int, dict[str, torch.Tensor]]:
    """One training step's loss, how many forward passes it took, and the gradients."""
    torch.manual_seed(0)
    model = tiny_causal_lm()
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = TunekiteTrainer(model=model, args=args, chunk_tokens=chunk_tokens)
    trainer.current_gradient_accumulation_steps = 1  # as the training loop sets it before each step
    trainer._chunked_head(model)  # its probe calls the model, so before counting
    calls = []
    model.register_forward_hook(lambda module, args, kwargs: calls.append(1))
    loss = trainer.training_step(model, {k: v.clone() for k, v in inputs.items()})
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    return loss.item(), len(calls), grads


def test_chunked_training_gives_the_whole_rows_loss_and_gradients(tmp_path) -> None:
    inputs = row([7, 11, 5, 9, 13])
    whole_loss, whole_calls, whole = trained(None, inputs, tmp_path)
    loss, calls, chunked = trained(16, inputs, tmp_path)
    assert (whole_calls, calls) == (1, 4)  # 7 | 11+5 | 9 | 13
    assert loss == pytest.approx(whole_loss, rel=1e-5)
    assert whole.keys() == chunked.keys() and whole
    for name, grad in whole.items():
        torch.testing.assert_close(chunked[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_chunks_need_padding_free_rows() -> None:
    training = SimpleNamespace(padding_free=False, group_by_length=None, use_cpu=True)
    training.padding_free_chunk_tokens = 512
    with pytest.raises(ArgumentError, match="--padding_free_chunk_tokens 512: batches are padded"):
        choose_batching(training, packing=False, model=tiny_causal_lm(), groupable=True)
    training.padding_free, training.padding_free_chunk_tokens = True, 0
    with pytest.raises(ArgumentError, match="must be >= 1"):
        choose_batching(training, packing=False, model=tiny_causal_lm(), groupable=True)
    training.padding_free_chunk_tokens = 512
    plan = choose_batching(training, packing=False, model=tiny_causal_lm(), groupable=True)
    assert plan.chunk_tokens == 512 and "chunks of up to 512 tokens" in plan.describe()
