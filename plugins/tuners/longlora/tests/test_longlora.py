"""LongLoRA: conformance, shifted sparse attention's exact reach (which positions a token
sees, per head half), full attention outside training, padding, save -> peft load."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from tunekite.api import TunerArguments, registry
from tunekite.testing import TunerConformance, eval_logits, sgd_steps, tiny_causal_lm
from tunekite_longlora.attention import shifted_sparse_attention


class TestLongLoraConformance(TunerConformance):
    name = "longlora"
    arg_overrides: ClassVar[dict[str, Any]] = {"lora_dropout": 0.0}


LAYER = SimpleNamespace(training=True, num_key_value_groups=1, is_causal=True)


def qkv(length: int = 8, seed: int = 0) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 2, length, 4, generator=generator) for _ in range(3)]


def changed_positions(ratio: float, position: int, training: bool = True) -> list[list[int]]:
    """Per head, the output positions that change when the value at `position` changes."""
    query, key, value = qkv()
    layer = SimpleNamespace(**{**vars(LAYER), "training": training})
    before, _ = shifted_sparse_attention(layer, query, key, value, None, ratio=ratio)
    value = value.clone()
    value[:, :, position] += 1.0
    after, _ = shifted_sparse_attention(layer, query, key, value, None, ratio=ratio)
    moved = (before - after).abs().sum(-1)[0] > 1e-6  # (length, heads)
    return [moved[:, head].nonzero().flatten().tolist() for head in range(2)]


def test_each_head_half_attends_within_its_own_groups() -> None:
    # 8 tokens in groups of 4: head 0 sees [0-3] [4-7]; head 1, shifted by 2, sees [2-5] [6 7 0 1]
    assert changed_positions(0.5, 2) == [[2, 3], [2, 3, 4, 5]]
    assert changed_positions(0.5, 6) == [[6, 7], [6, 7]]  # never a later token: 0 and 1 stay unseen
    assert changed_positions(0.5, 2, training=False) == [[2, 3, 4, 5, 6, 7]] * 2  # full causal attention


def test_one_group_over_the_whole_sequence_is_causal_attention() -> None:
    query, key, value = qkv(length=10)
    s2, _ = shifted_sparse_attention(LAYER, query, key, value, None, ratio=1.0)
    full, _ = sdpa_attention_forward(LAYER, query, key, value, None, is_causal=True)
    assert torch.allclose(s2, full, atol=1e-6)


def test_padding_stays_masked_and_uneven_lengths_are_padded_to_whole_groups() -> None:
    query, key, value = qkv(length=7)
    allowed = torch.ones(7, 7, dtype=torch.bool).tril()
    allowed[:, 5:] = False  # the last two tokens are padding
    mask = allowed.expand(1, 1, 7, 7)
    out, _ = shifted_sparse_attention(LAYER, query, key, value, mask, ratio=0.5)
    assert out.shape == (1, 7, 2, 4) and torch.isfinite(out).all()
    value = value.clone()
    value[:, :, 5:] += 10.0
    again, _ = shifted_sparse_attention(LAYER, query, key, value, mask, ratio=0.5)
    assert torch.allclose(out[:, :5], again[:, :5]), "a real token saw padding"


def longlora(**arguments: Any) -> Any:
    spec = registry("tuners").get("longlora")
    return spec.load()(tiny_causal_lm(), spec.args(lora_dropout=0.0, **arguments), TunerArguments())


IDS = torch.arange(32).reshape(2, 16)


def test_training_uses_shifted_sparse_attention_and_evaluation_full_attention() -> None:
    plain = tiny_causal_lm().eval()
    model = longlora()
    assert model.config._attn_implementation == "longlora_s2attn"
    with torch.no_grad():
        full = plain(input_ids=IDS).logits
        assert torch.allclose(model.eval()(input_ids=IDS).logits, full, atol=1e-5)
        assert not torch.allclose(model.train()(input_ids=IDS).logits, full, atol=1e-3)
    trained = {
        n.split(".")[-4] for n, p in model.named_parameters() if p.requires_grad and "modules_to_save" in n
    }
    assert trained == {"embed_tokens", "input_layernorm", "post_attention_layernorm", "norm"}


def test_save_then_plain_peft_load_gives_the_same_logits(tmp_path) -> None:
    from peft import PeftModel

    model = longlora()
    sgd_steps(model, IDS)
    model.save_pretrained(tmp_path)
    loaded = PeftModel.from_pretrained(tiny_causal_lm(), tmp_path)
    assert torch.allclose(eval_logits(loaded, IDS), eval_logits(model, IDS), atol=1e-5)
