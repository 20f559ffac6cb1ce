"""LoRA's fused input dropout: the values and gradients of dropout-then-`lora_A` for the
same mask, dropout's statistics, less memory kept for backward, and peft's DoRA left as it is."""

from __future__ import annotations

import copy

import pytest
import torch

from tunekite.testing import logits_and_grads, tiny_causal_lm
from tunekite.training import lean_dropout
from tunekite.training.fused_lora import fuse_lora_forward
from tunekite.training.lean_dropout import DropoutLinear, dropout_mask, fuse_lora_dropout

IDS = torch.randint(0, 128, (2, 24), generator=torch.Generator().manual_seed(3))


def lora_model(**config):
    from peft import LoraConfig, get_peft_model

    settings = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.5, "target_modules": "all-linear", **config}
    return get_peft_model(tiny_causal_lm(), LoraConfig(task_type="CAUSAL_LM", **settings))


class SeededDropout(torch.nn.Module):
    """peft's dropout slot multiplying by the mask that a given seed draws."""

    def __init__(self, p: float, seed: int) -> None:
        super().__init__()
        self.p, self.seed = p, seed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * dropout_mask(x, 1.0 - self.p, self.seed) / (1.0 - self.p)


@pytest.mark.parametrize(
    ("weight_dtype", "bf16"),
    [(torch.float32, False), (torch.float32, True), (torch.bfloat16, False)],
    ids=["fp32", "bf16-autocast", "bf16-weights"],
)
def test_values_and_gradients_are_peft_s_for_the_same_masks(
    monkeypatch, weight_dtype: torch.dtype, bf16: bool
) -> None:
    """Fused, and peft's own path with each dropout drawing the mask of the seed the fused
    `lora_A` drew: the same logits and gradients (input, every A and B), with the mask kept
    for backward (bf16 weights) or drawn again."""
    fused = lora_model(lora_dropout=0.3).to(weight_dtype).train()
    torch.manual_seed(0)
    for name, param in fused.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make every A gradient zero
            torch.nn.init.normal_(param, std=0.1)
    reference = copy.deepcopy(fused)
    assert fuse_lora_dropout(fused) == 2 * 7
    seeds: dict[int, int] = {}
    apply = lean_dropout._DropoutLinear.apply

    def recording(x, weight, p, seed, dtype, keeps_mask):
        seeds[id(weight)] = seed
        return apply(x, weight, p, seed, dtype, keeps_mask)

    monkeypatch.setattr(lean_dropout._DropoutLinear, "apply", recording)
    embeds = fused.get_input_embeddings()(IDS).detach()
    out, grads = logits_and_grads(fused, embeds, bf16)

    weights = {n: id(p) for n, p in fused.named_parameters()}
    for name, module in reference.named_modules():
        if isinstance(getattr(module, "lora_dropout", None), torch.nn.ModuleDict):
            seed = seeds[weights[f"{name}.lora_A.default.weight"]]
            module.lora_dropout["default"] = SeededDropout(0.3, seed)
    expected_out, expected_grads = logits_and_grads(reference, embeds, bf16)

    kept = [m.keeps_mask for m in fused.modules() if isinstance(m, DropoutLinear)]
    assert kept == [weight_dtype == torch.bfloat16] * 2 * 7
    exact = weight_dtype == torch.float32 and not bf16
    tolerance = {"atol": 1e-6, "rtol": 1e-6} if exact else {"atol": 1e-2, "rtol": 2e-2}
    torch.testing.assert_close(out, expected_out, **tolerance)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert grad.abs().sum() > 0 and grad.dtype == expected_grads[name].dtype, name
        torch.testing.assert_close(grad, expected_grads[name], **tolerance, msg=name)


def test_a_share_p_is_dropped_the_rest_scaled_and_backward_draws_the_same_mask() -> None:
    p = 0.3
    layer = torch.nn.Linear(16, 16, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(16))
    layer.__class__, layer.p = DropoutLinear, p
    x = torch.ones(4096, 16, requires_grad=True)
    dropped = layer(x)
    assert abs((dropped == 0).float().mean().item() - p) < 0.01
    kept = dropped[dropped != 0]
    torch.testing.assert_close(kept, torch.full_like(kept, 1 / (1 - p)))
    dropped.sum().backward()
    torch.testing.assert_close(x.grad, dropped.detach())  # d(sum)/dx: the forward's mask, scaled
    assert not torch.equal(layer(x), dropped), "two forwards drew the same mask"


def test_evaluation_applies_no_dropout() -> None:
    model = lora_model()
    fuse_lora_dropout(model)
    model.eval()
    ids = torch.tensor([[1, 2, 3, 4]])
    torch.testing.assert_close(model(input_ids=ids).logits, model(input_ids=ids).logits)


def graph_nodes(root, name: str) -> list:
    """The nodes called `name` in the backward graph below `root`."""
    found, seen, todo = [], set(), [root]
    while todo:
        node = todo.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        found += [node] if node.name() == name else []
        todo += [parent for parent, _ in node.next_functions]
    return found


def saved_bytes(model) -> int:
    """Bytes of the tensors a forward on 2 x 16 tokens keeps for backward."""
    seen: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(input_ids=torch.randint(0, 128, (2, 16)), use_cache=False)
    return sum(seen.values())


def test_fused_layers_keep_less_for_backward_and_still_train() -> None:
    plain, fused = lora_model().train(), lora_model().train()
    assert fuse_lora_dropout(fused) == 2 * 7  # two layers of q, k, v, o, gate, up, down
    # peft keeps a dropped copy and a float mask per adapted layer; fused, what peft keeps
    # without dropout (the shared inputs), and no mask
    assert saved_bytes(fused) < 0.7 * saved_bytes(plain)
    assert saved_bytes(fused) == saved_bytes(lora_model(lora_dropout=0.0).train())
    for name, param in fused.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make every A gradient zero
            torch.nn.init.normal_(param)
    loss = fused(input_ids=torch.tensor([[1, 2, 3, 4]]), labels=torch.tensor([[1, 2, 3, 4]])).loss
    loss.backward()
    grads = [p.grad for n, p in fused.named_parameters() if "lora_A" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("config", [{"use_dora": True}, {"lora_dropout": 0.0}])
def test_dora_and_dropout_free_adapters_are_left_alone(config) -> None:
    assert fuse_lora_dropout(lora_model(**config)) == 0


@pytest.mark.parametrize("keep", [0.95, 0.5, 0.1])
def test_masks_keep_their_share_in_every_position_of_a_draw_and_any_shape(keep: float) -> None:
    """Each 64-bit draw serves four entries: every one of the four positions keeps `keep`
    of its entries, whatever the tensor's shape (here not a multiple of four)."""
    mask = dropout_mask(torch.empty(1001, 999), keep, seed=7)
    assert mask.shape == (1001, 999) and mask.dtype == torch.int8
    assert set(mask.unique().tolist()) == {0, 1}
    flat = mask.flatten().float()
    for lane in range(4):
        assert abs(flat[lane::4].mean().item() - keep) < 0.005, lane
    assert torch.equal(mask, dropout_mask(torch.empty(1001, 999), keep, seed=7))
    assert not torch.equal(mask, dropout_mask(torch.empty(1001, 999), keep, seed=8))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16, torch.float64])
def test_the_int8_mask_multiplies_every_float_dtype_into_it(dtype: torch.dtype) -> None:
    """The product of a float tensor and the int8 mask takes the float's dtype and keeps
    exactly the entries the mask keeps."""
    x = torch.randn(37, 53, generator=torch.Generator().manual_seed(2)).to(dtype)
    mask = dropout_mask(x, 0.8, seed=3)
    dropped = x * mask
    assert dropped.dtype == dtype
    assert torch.equal(dropped, torch.where(mask.bool(), x, torch.zeros((), dtype=dtype)))


@pytest.mark.parametrize(
    ("weight_dtype", "autocast", "keeps"),
    [(torch.float32, False, False), (torch.float32, True, False), (torch.bfloat16, False, True)],
    ids=["fp32", "bf16-autocast", "bf16-weights"],
)
def test_over_half_precision_weights_each_mask_is_kept_in_their_dtype_and_backward_draws_none(
    monkeypatch, weight_dtype: torch.dtype, autocast: bool, keeps: bool
) -> None:
    """Over bf16 weights the mask drawn in forward is kept, in bf16, instead of drawn again
    in backward; over float32 weights (autocast included) only its seed is kept."""
    model = lora_model().to(weight_dtype).train()
    for name, param in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make every A gradient zero
            torch.nn.init.normal_(param)
    assert fuse_lora_dropout(model) == 2 * 7
    fuse_lora_forward(model)  # what `tk run` adds: adapters computed in the base's dtype

    draws: list[int] = []
    draw = lean_dropout.dropout_mask
    monkeypatch.setattr(lean_dropout, "dropout_mask", lambda *args: draws.append(1) or draw(*args))
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        loss = model(input_ids=ids, labels=ids).loss
    assert len(draws) == 2 * 7
    nodes = graph_nodes(loss.grad_fn, "_DropoutLinearBackward")
    assert len(nodes) == 2 * 7
    for node in nodes:
        x, _weight, *kept = node.saved_tensors
        assert len(kept) == keeps
        if keeps:
            assert kept[0].dtype == torch.bfloat16 and kept[0].shape == x.shape
            assert set(kept[0].unique().tolist()) <= {0.0, 1.0}
    loss.backward()
    assert len(draws) == (2 * 7 if keeps else 2 * 2 * 7)
    grads = [p.grad for n, p in model.named_parameters() if "lora_" in n]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)
