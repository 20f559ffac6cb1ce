"""The trainer's loss: equal to the model's own cross-entropy, weighted by loss_scale,
the same whether logits are computed everywhere or only where labels follow; token and
sequence accuracy against the model's own argmax."""

from __future__ import annotations

import pytest
import torch
from transformers import Seq2SeqTrainingArguments

from tunekite.testing import tiny_causal_lm
from tunekite.training.trainer import TunekiteTrainer


class WithoutLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward has no `logits_to_keep`: the trainer computes all logits."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None):
        return self.inner(input_ids=input_ids, attention_mask=attention_mask)


def make_trainer(tmp_path, model: torch.nn.Module, acc_strategy: str = "token") -> TunekiteTrainer:
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    return TunekiteTrainer(model=model, args=args, acc_strategy=acc_strategy)


@pytest.fixture
def trainer(tmp_path):
    return make_trainer(tmp_path, tiny_causal_lm())


def batch(scale_value: float = 1.0) -> dict:
    ids = torch.randint(0, 128, (2, 10), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :4] = -100
    labels[1, 8:] = -100
    scale = (labels != -100).float() * scale_value
    return {"input_ids": ids, "labels": labels, "loss_scale": scale}


def uneven_batch() -> dict:
    """Weights that differ token by token, so a loss that ignores them comes out different."""
    inputs = batch()
    weights = torch.linspace(0.25, 3.0, inputs["labels"].numel()).reshape(inputs["labels"].shape)
    inputs["loss_scale"] = inputs["loss_scale"] * weights
    return inputs


def hand_weighted_loss(model: torch.nn.Module, inputs: dict) -> float:
    """Σ scale[t+1] · −log p(labels[t+1] | ≤t) over labelled t+1, divided by their count."""
    with torch.no_grad():
        logits = model(input_ids=inputs["input_ids"]).logits.double()
    logp = torch.log_softmax(logits, -1)
    labels, scale = inputs["labels"], inputs["loss_scale"]
    total, count = 0.0, 0
    for row in range(labels.size(0)):
        for t in range(labels.size(1) - 1):
            token = labels[row, t + 1].item()
            if token != -100:
                total -= scale[row, t + 1].item() * logp[row, t, token].item()
                count += 1
    return total / count


def test_loss_equals_the_models_own_cross_entropy(trainer):
    inputs = batch()
    expected = trainer.model(input_ids=inputs["input_ids"], labels=inputs["labels"]).loss
    trainer.model.train()
    kept = trainer.compute_loss(trainer.model, dict(inputs))
    trainer.model.eval()
    full = trainer.compute_loss(trainer.model, dict(inputs))
    assert kept.item() == pytest.approx(expected.item(), abs=1e-5)
    assert full.item() == pytest.approx(expected.item(), abs=1e-5)


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_loss_scale_weights_each_token(trainer, mode):
    inputs = uneven_batch()
    expected = hand_weighted_loss(trainer.model, inputs)
    unweighted = hand_weighted_loss(trainer.model, {**inputs, "loss_scale": batch()["loss_scale"]})
    assert abs(expected - unweighted) > 0.05  # the weights matter for this batch
    getattr(trainer.model, mode)()
    assert trainer.compute_loss(trainer.model, dict(inputs)).item() == pytest.approx(expected, abs=1e-5)


def test_loss_scale_weights_each_token_for_a_model_without_logits_to_keep(tmp_path):
    trainer = make_trainer(tmp_path, WithoutLogitsToKeep(tiny_causal_lm()))
    inputs = uneven_batch()
    expected = hand_weighted_loss(trainer.model, inputs)
    trainer.model.train()
    assert trainer.compute_loss(trainer.model, dict(inputs)).item() == pytest.approx(expected, abs=1e-5)


def test_a_row_with_zero_weight_does_not_count(trainer):
    trainer.model.train()
    single = trainer.compute_loss(trainer.model, batch(1.0))
    double = trainer.compute_loss(trainer.model, batch(2.0))
    assert double.item() == pytest.approx(2 * single.item(), rel=1e-5)
    inputs = batch(1.0)
    inputs["loss_scale"][0] = 0.0  # first row weighs nothing: only the second row counts
    expected = hand_weighted_loss(trainer.model, inputs)
    assert trainer.compute_loss(trainer.model, inputs).item() == pytest.approx(expected, abs=1e-5)


def half_right_batch(model: torch.nn.Module) -> dict:
    """Labels that agree with the model's argmax on every trained token of row 0 and on
    half of row 1's: token accuracy 8/10, sequence accuracy 1/2."""
    inputs = batch()
    with torch.no_grad():
        predicted = model(input_ids=inputs["input_ids"]).logits.argmax(-1)
    labels = inputs["labels"]
    labels[:, 1:] = torch.where(labels[:, 1:] != -100, predicted[:, :-1], labels[:, 1:])
    labels[1, 6:8] = (predicted[1, 5:7] + 1) % 128  # row 1: two of its four tokens wrong
    return inputs


def hand_accuracy(model: torch.nn.Module, inputs: dict, strategy: str) -> float:
    with torch.no_grad():
        predicted = model(input_ids=inputs["input_ids"]).logits.argmax(-1)
    rows = []
    for row in range(inputs["labels"].size(0)):
        labels = inputs["labels"][row]
        rows.append([predicted[row, t].item() == labels[t + 1].item()
                     for t in range(labels.size(0) - 1) if labels[t + 1] != -100])
    if strategy == "seq":
        return sum(all(r) for r in rows) / len(rows)
    return sum(sum(r) for r in rows) / sum(len(r) for r in rows)


@pytest.mark.parametrize(("strategy", "key", "value"), [("token", "token_acc", 0.8), ("seq", "seq_acc", 0.5)])
def test_token_accuracy_is_logged_with_the_loss(tmp_path, strategy, key, value):
    trainer = make_trainer(tmp_path, tiny_causal_lm(), acc_strategy=strategy)
    inputs = half_right_batch(trainer.model)
    assert hand_accuracy(trainer.model, inputs, strategy) == pytest.approx(value)
    trainer.model.train()
    trainer.compute_loss(trainer.model, inputs)
    logs = {"loss": 1.0}
    trainer.log(logs)
    assert logs[key] == pytest.approx(value)
    assert ("seq_acc" if key == "token_acc" else "token_acc") not in logs
