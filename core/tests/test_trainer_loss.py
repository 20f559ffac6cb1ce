"""The trainer's loss: equal to the model's own cross-entropy, weighted by loss_scale,
the same whether logits are computed everywhere or only where labels follow."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture
def trainer(tmp_path):
    from transformers import Seq2SeqTrainingArguments

    from tunekite.testing import tiny_causal_lm
    from tunekite.training.trainer import TunekiteTrainer

    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    return TunekiteTrainer(model=tiny_causal_lm(), args=args)


def batch(scale_value: float = 1.0) -> dict:
    ids = torch.randint(0, 128, (2, 10), generator=torch.Generator().manual_seed(0))
    labels = ids.clone()
    labels[:, :4] = -100
    labels[1, 8:] = -100
    scale = (labels != -100).float() * scale_value
    return {"input_ids": ids, "labels": labels, "loss_scale": scale}


def test_loss_equals_the_models_own_cross_entropy(trainer):
    inputs = batch()
    expected = trainer.model(input_ids=inputs["input_ids"], labels=inputs["labels"]).loss
    trainer.model.train()
    kept = trainer.compute_loss(trainer.model, dict(inputs))
    trainer.model.eval()
    full = trainer.compute_loss(trainer.model, dict(inputs))
    assert kept.item() == pytest.approx(expected.item(), abs=1e-5)
    assert full.item() == pytest.approx(expected.item(), abs=1e-5)


def test_loss_scale_weights_tokens(trainer):
    trainer.model.train()
    single = trainer.compute_loss(trainer.model, batch(1.0))
    double = trainer.compute_loss(trainer.model, batch(2.0))
    assert double.item() == pytest.approx(2 * single.item(), rel=1e-5)
    inputs = batch(1.0)
    inputs["loss_scale"][0] = 0.0  # first row weighs nothing: only the second row counts
    part = trainer.compute_loss(trainer.model, inputs)
    assert 0 < part.item() < single.item() * 2


def test_token_accuracy_is_logged_with_the_loss(trainer):
    trainer.model.train()
    trainer.compute_loss(trainer.model, batch())
    logs = {"loss": 1.0}
    trainer.log(logs)
    assert 0.0 <= logs["token_acc"] <= 1.0


@pytest.mark.parametrize("kind", ["prompt", "ptuning", "prefix"])
def test_virtual_token_adapters_lose_what_peft_itself_computes(tmp_path, kind):
    """Prompt and P-tuning put their virtual tokens (and their logits) first; prefix tuning
    does not. Either way the loss is peft's own, which pads the labels itself."""
    from peft import PrefixTuningConfig, PromptEncoderConfig, PromptTuningConfig, get_peft_model
    from transformers import Seq2SeqTrainingArguments

    from tunekite.testing import tiny_causal_lm
    from tunekite.training.trainer import TunekiteTrainer

    configs = {"prompt": PromptTuningConfig, "ptuning": PromptEncoderConfig, "prefix": PrefixTuningConfig}
    config = configs[kind]
    model = get_peft_model(tiny_causal_lm(), config(task_type="CAUSAL_LM", num_virtual_tokens=3))
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[])
    trainer = TunekiteTrainer(model=model, args=args)
    inputs = batch()
    model.eval()
    expected = model(input_ids=inputs["input_ids"], labels=inputs["labels"]).loss
    for training in (True, False):
        model.train(training)
        assert trainer.compute_loss(model, dict(inputs)).item() == pytest.approx(expected.item(), abs=1e-5)
