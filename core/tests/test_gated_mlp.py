"""The lean gated MLP: bitwise the same outputs and gradients as autograd's own, one
intermediate-width tensor less kept per layer, and MLPs of another shape left alone."""

from __future__ import annotations

import copy

import pytest
import torch

from tunekite.testing import assert_same_logits_and_grads, logits_and_grads, tiny_causal_lm, tiny_lora_model
from tunekite.training.gated_mlp import lean_gated_mlps

IDS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(5))


@pytest.mark.parametrize("bf16", [False, True], ids=["fp32", "bf16-autocast"])
@pytest.mark.parametrize("act", ["silu", "transformers_silu", "gelu_pytorch_tanh"])
def test_outputs_and_gradients_are_autograd_s_bit_for_bit(bf16: bool, act: str) -> None:
    """SiLU (torch's or transformers') through its own backward kernel, GELU through
    autograd over the recomputed activation: every logit and gradient (input, each A and
    B) equal to the unchanged model's."""
    from transformers.activations import ACT2FN

    acts = {
        "silu": torch.nn.SiLU(),
        "transformers_silu": ACT2FN["silu"],
        "gelu_pytorch_tanh": torch.nn.GELU("tanh"),
    }
    lean = tiny_lora_model()
    for layer in lean.base_model.model.model.layers:
        layer.mlp.act_fn = acts[act]
    reference = copy.deepcopy(lean)
    assert lean_gated_mlps(lean) == 2
    embeds = lean.get_input_embeddings()(IDS)
    assert_same_logits_and_grads(
        logits_and_grads(lean, embeds, bf16), logits_and_grads(reference, embeds, bf16)
    )


def saved_bytes(model) -> int:
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        seen[tensor.untyped_storage().data_ptr()] = tensor.untyped_storage().nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=IDS).logits.sum()
    return sum(seen.values())


def test_each_layer_keeps_one_intermediate_tensor_less() -> None:
    model = tiny_lora_model()
    before = saved_bytes(model)
    lean_gated_mlps(model)
    intermediate = IDS.numel() * model.config.intermediate_size * 4
    assert before - saved_bytes(model) == model.config.num_hidden_layers * intermediate


def test_without_gradients_the_model_s_own_forward_runs() -> None:
    model = tiny_lora_model()
    lean_gated_mlps(model)
    mlp = model.base_model.model.model.layers[0].mlp
    calls = []
    mlp.act_fn.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        model(input_ids=IDS)
    assert len(calls) == 1 and type(mlp).__name__ == "LeanLlamaMLP"


def test_an_mlp_computing_something_else_keeps_its_forward() -> None:
    """Same parts, another formula (`act(up) * gate`): the probe tells them apart."""
    from transformers.models.llama.modeling_llama import LlamaMLP

    class SwappedMLP(LlamaMLP):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.down_proj(self.act_fn(self.up_proj(x)) * self.gate_proj(x))

    model = tiny_causal_lm()
    for layer in model.model.layers:
        swapped = SwappedMLP(model.config)
        swapped.load_state_dict(layer.mlp.state_dict())
        layer.mlp = swapped
    assert lean_gated_mlps(model) == 0
    assert all(type(layer.mlp) is SwappedMLP for layer in model.model.layers)


def test_a_lean_model_pickles_and_is_not_changed_twice() -> None:
    import pickle

    model = tiny_lora_model()
    assert lean_gated_mlps(model) == 2
    assert lean_gated_mlps(model) == 0
    again = pickle.loads(pickle.dumps(model))
    assert type(again.base_model.model.model.layers[1].mlp).__name__ == "LeanLlamaMLP"


def test_transformers_silu_runs_once_per_layer_in_backward() -> None:
    """For the gate's gradient `silu_backward` recomputes what it needs itself; only the
    up gradient's `act(gate)` calls the activation again."""
    from transformers.activations import ACT2FN

    model = tiny_lora_model()
    act = ACT2FN["silu"]
    for layer in model.base_model.model.model.layers:
        layer.mlp.act_fn = act
    lean_gated_mlps(model)
    calls = []
    act.register_forward_hook(lambda *args: calls.append(1))
    loss = model(input_ids=IDS).logits.float().pow(2).mean()
    calls.clear()
    loss.backward()
    assert len(calls) == model.config.num_hidden_layers
