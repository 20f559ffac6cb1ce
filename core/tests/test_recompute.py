"""Activations recomputed in backward: bitwise the same losses and gradients, the offered
tensors freed after forward, an offer used only for the tensor it names, an input changed
in place refused, and the trainer recomputing in training (not under gradient checkpointing
or torch.compile)."""

from __future__ import annotations

import contextlib
import copy
import gc
import weakref

import pytest
import torch
from transformers import Seq2SeqTrainingArguments

from tunekite.testing import assert_same_logits_and_grads, logits_and_grads, tiny_lora_model
from tunekite.training.gated_mlp import lean_gated_mlps
from tunekite.training.lean_dropout import fuse_lora_dropout
from tunekite.training.recompute import recomputable, recompute_norms, recomputing
from tunekite.training.trainer import TunekiteTrainer

IDS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(9))


def lora_model(dropout: float = 0.1):
    model = tiny_lora_model(dropout)
    fuse_lora_dropout(model)
    lean_gated_mlps(model)
    assert recompute_norms(model) == 2 * 2 + 1  # two per layer and the final one
    return model.train()


class Watch:
    """Weak references to the norm outputs and gated products of a forward, and how many
    times each norm ran."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.outputs: list[weakref.ref] = []
        self.norm_calls = 0
        for name, module in model.named_modules():
            if name.endswith("layernorm"):
                module.register_forward_hook(self._norm)
            elif name.endswith("mlp.down_proj"):
                module.register_forward_pre_hook(lambda _m, args: self.outputs.append(weakref.ref(args[0])))

    def _norm(self, _module, _args, output) -> None:
        self.norm_calls += 1
        self.outputs.append(weakref.ref(output))

    def alive(self) -> int:
        gc.collect()
        return sum(ref() is not None for ref in self.outputs)


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
def test_logits_and_gradients_are_the_same_bit_for_bit(bf16: bool) -> None:
    model = lora_model()
    reference = copy.deepcopy(model)
    embeds = model.get_input_embeddings()(IDS)
    torch.manual_seed(0)
    with recomputing():
        actual = logits_and_grads(model, embeds, bf16)
    torch.manual_seed(0)
    assert_same_logits_and_grads(actual, logits_and_grads(reference, embeds, bf16))


@pytest.mark.parametrize("dropout", [0.1, 0.0], ids=["fused-dropout", "peft-lora_A"])
def test_offered_activations_are_freed_after_forward_and_recomputed_once_in_backward(dropout) -> None:
    """Kept, the four norm outputs and two gated products of the two layers outlive
    forward; recomputed, none does, and each layer norm runs once more in backward."""
    for context, alive, norm_calls in ((contextlib.nullcontext(), 6, 4), (recomputing(), 0, 8)):
        model = lora_model(dropout)
        watch = Watch(model)
        with context:
            loss = model(input_ids=IDS, labels=IDS).loss
        assert watch.alive() == alive
        loss.backward()
        assert watch.norm_calls == norm_calls


def test_an_offer_names_one_live_tensor_not_its_memory() -> None:
    """Once the offered tensor is gone, a new tensor in the same memory and of the same
    shape is kept as it is, not replaced by the old recipe."""
    x = torch.randn(64, 64, requires_grad=True)
    calls = []

    def double(t: torch.Tensor) -> torch.Tensor:
        calls.append(t)
        return t * 2

    with recomputing():
        for _ in range(100):
            offered = x * 2
            recomputable(offered, double, x)
            address = offered.data_ptr()
            del offered
            other = x * 3
            if other.data_ptr() == address:
                break
        else:
            pytest.skip("the allocator never gave the freed memory back to a tensor of that size")
        loss = (other * other).sum()
    loss.backward()
    assert not calls
    torch.testing.assert_close(x.grad, 18 * x.detach())


def test_a_recomputed_value_is_the_recipe_s_and_an_input_changed_in_place_is_refused() -> None:
    x = torch.randn(8, requires_grad=True)
    with recomputing():
        y = x.exp()
        recomputable(y, torch.exp, x)
        w = torch.randn(8, requires_grad=True)
        (y * w).sum().backward()  # mul keeps y for w's gradient
    torch.testing.assert_close(w.grad, x.detach().exp())

    base = torch.randn(8, requires_grad=True)
    inner = base * 1
    with recomputing():
        y = inner.exp()
        recomputable(y, torch.exp, inner)
        loss = (y * w).sum()
    with torch.no_grad():
        inner.add_(1)
    with pytest.raises(RuntimeError, match="modified in place"):
        loss.backward()


class ConditionalLayerNorm(torch.nn.Module):
    """A norm of two inputs: its output is not the recipe of its first input alone."""

    calls = 0

    def forward(self, x: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        ConditionalLayerNorm.calls += 1
        return torch.nn.functional.layer_norm(x, x.shape[-1:]) * scale


def test_a_norm_called_with_more_than_its_input_is_kept() -> None:
    norm, x, scale = ConditionalLayerNorm(), torch.randn(4, 8), torch.randn(4, 1)
    w = torch.randn(8, requires_grad=True)
    assert recompute_norms(norm) == 1
    with recomputing():
        (norm(x, scale) * w).sum().backward()  # mul keeps the norm's output for w's gradient
    assert ConditionalLayerNorm.calls == 1
    torch.testing.assert_close(w.grad, norm(x, scale).sum(0))


def test_outside_the_block_an_offer_changes_nothing() -> None:
    x = torch.randn(8, requires_grad=True)
    y = x.exp()
    recomputable(y, pytest.fail, x)
    (y * y).sum().backward()
    torch.testing.assert_close(x.grad, 2 * x.detach().exp() ** 2)


SETTINGS = {
    "plain": {},
    "checkpointing": {"gradient_checkpointing": True},
    "compile": {"torch_compile": True},
}


@pytest.mark.parametrize("setting", SETTINGS.values(), ids=SETTINGS.keys())
def test_the_trainer_recomputes_in_training_unless_checkpointing_or_compiling(tmp_path, setting) -> None:
    model = lora_model()
    watch = Watch(model)
    args = Seq2SeqTrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to=[], **setting)
    trainer = TunekiteTrainer(model=model, args=args)
    loss = trainer.compute_loss(model, {"input_ids": IDS, "labels": IDS.clone()})
    assert watch.alive() == (6 if setting else 0)
    loss.backward()
