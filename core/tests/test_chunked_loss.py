"""The chunked vocabulary projection + cross-entropy gives the per-token losses, argmax and
gradients of plain cross-entropy over full logits, and the trainer's training loss and
LoRA gradients through it equal the unfused path's, padded and padding-free."""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import Seq2SeqTrainingArguments

from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
from tunekite.testing import tiny_causal_lm
from tunekite.training import chunked_loss
from tunekite.training.chunked_loss import fusable_head, linear_cross_entropy
from tunekite.training.trainer import TunekiteTrainer


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 tokens at a vocabulary of 300, so every case spans several chunks."""
    monkeypatch.setattr(chunked_loss, "CHUNK_ELEMENTS", 7 * 300)


def projection_case(bias: bool, dtype: torch.dtype = torch.float32):
    generator = torch.Generator().manual_seed(0)
    head = torch.nn.Linear(16, 300, bias=bias).to(dtype)
    hidden = torch.randn(40, 16, generator=generator).to(dtype).requires_grad_()
    target = torch.randint(0, 300, (40,), generator=generator)
    target[::6] = -100
    weights = torch.rand(40, generator=generator)
    return head, hidden, target, weights


def gradients(head, hidden) -> list[torch.Tensor]:
    found = [hidden.grad, head.weight.grad] + ([head.bias.grad] if head.bias is not None else [])
    hidden.grad = None
    head.zero_grad()
    return found


@pytest.mark.parametrize("bias", [False, True])
def test_losses_argmax_and_gradients_equal_full_logits(small_chunks, bias):
    head, hidden, target, weights = projection_case(bias)
    losses, predicted = linear_cross_entropy(hidden, head, target)
    (losses * weights).sum().backward()
    chunked = gradients(head, hidden)
    logits = head(hidden)
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="none")
    (expected * weights).sum().backward()
    torch.testing.assert_close(losses, expected.detach(), rtol=0, atol=1e-5)
    assert torch.equal(predicted, logits.argmax(-1))
    for mine, theirs in zip(chunked, gradients(head, hidden), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-5, atol=1e-6)


def test_a_frozen_head_gets_no_gradient_and_the_hidden_states_do(small_chunks):
    head, hidden, target, weights = projection_case(bias=False)
    head.requires_grad_(False)
    losses, _ = linear_cross_entropy(hidden, head, target)
    (losses * weights).sum().backward()
    chunked = hidden.grad
    hidden.grad = None
    expected = torch.nn.functional.cross_entropy(head(hidden), target, ignore_index=-100, reduction="none")
    (expected * weights).sum().backward()
    assert head.weight.grad is None
    torch.testing.assert_close(chunked, hidden.grad, rtol=1e-5, atol=1e-6)


def test_bf16_logits_give_a_float32_loss(small_chunks):
    head, hidden, target, _ = projection_case(bias=False, dtype=torch.bfloat16)
    losses, _ = linear_cross_entropy(hidden, head, target)
    logits = head(hidden).float()
    expected = torch.nn.functional.cross_entropy(logits, target, ignore_index=-100, reduction="none")
    assert losses.dtype == torch.float32
    torch.testing.assert_close(losses, expected, rtol=0, atol=1e-4)


def test_a_model_that_soft_caps_its_logits_keeps_the_unfused_loss():
    model = tiny_causal_lm()
    assert fusable_head(model) is model.lm_head
    original = type(model).forward

    class SoftCapped(type(model)):  # as Gemma 2 does: not a function of the hidden states' projection alone
        def forward(self, *args, **kwargs):
            output = original(self, *args, **kwargs)
            output.logits = torch.tanh(output.logits)
            return output

    model.__class__ = SoftCapped
    assert fusable_head(model) is None


def lora_trainer(tmp_path) -> TunekiteTrainer:
    model = get_peft_model(tiny_causal_lm(), LoraConfig(r=4, target_modules="all-linear", lora_dropout=0.0))
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    return TunekiteTrainer(model=model, args=args)


def features() -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    rows = []
    for length, prompt in [(9, 4), (14, 6), (6, 2)]:
        ids = torch.randint(1, 128, (length,), generator=generator).tolist()
        labels = [-100] * prompt + ids[prompt:]
        scale = [0.0] * prompt + torch.linspace(0.5, 2.0, length - prompt).tolist()
        rows.append({"input_ids": ids, "labels": labels, "loss_scale": scale})
    return rows


@pytest.mark.parametrize("collator", [PaddedCollator(pad_token_id=0), PaddingFreeCollator()])
def test_training_loss_and_lora_gradients_equal_the_unfused_path(tmp_path, collator):
    trainer = lora_trainer(tmp_path)
    trainer.model.train()
    results = []
    for head in (trainer._chunked_head(trainer.model), None):
        assert (head is not None) == (not results)  # chunked first, then the full logits
        trainer._head = head
        loss = trainer.compute_loss(trainer.model, collator(features()))
        loss.backward()
        grads = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
        trainer.model.zero_grad()
        results.append((loss.detach(), grads, list(trainer._accuracy)))
        trainer._accuracy = [0.0, 0.0]
    (loss, grads, accuracy), (plain_loss, plain_grads, plain_accuracy) = results
    torch.testing.assert_close(loss, plain_loss, rtol=0, atol=1e-5)
    assert accuracy == plain_accuracy and accuracy[1] > 0
    assert grads.keys() == plain_grads.keys() and len(grads) > 0
    for name, grad in grads.items():
        torch.testing.assert_close(grad, plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)
