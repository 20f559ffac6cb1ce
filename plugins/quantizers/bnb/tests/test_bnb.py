"""The bnb quantizer's `from_pretrained` kwargs: the tiny model loads in 4-bit and 8-bit, the
ms-swift arguments reach `BitsAndBytesConfig`, bad bit widths are refused (the whole path
through `tk run` is in tests/test_qlora.py)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tunekite.api import ArgumentError, ModelArguments, start
from tunekite.testing import save_tiny_chat_model
from tunekite_bnb.plugin import BnbArguments
from tunekite_bnb.quantize import from_pretrained_kwargs

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny model, widened to bitsandbytes' CPU 4-bit block of 64 input features."""
    return save_tiny_chat_model(
        tmp_path_factory.mktemp("tiny") / "base", hidden_size=64, intermediate_size=128
    )


def load(tiny: Path, bits: int | None, **args: object):
    """The tiny model loaded with the kwargs the `bnb` factory gives a run asking for `bits`."""
    from transformers import AutoModelForCausalLM

    run = SimpleNamespace(
        groups={"quantization": SimpleNamespace(quant_bits=bits), "model": ModelArguments(model=str(tiny))}
    )
    return AutoModelForCausalLM.from_pretrained(tiny, **from_pretrained_kwargs(BnbArguments(**args), run))


def test_four_bit_nf4_loads_linear4bit_and_keeps_generating(tiny) -> None:
    import bitsandbytes as bnb
    import torch

    model = load(tiny, 4)
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit)
    assert q_proj.weight.quant_state.quant_type == "nf4"
    assert q_proj.weight.quant_state.nested, "double quantization is ms-swift's default"
    assert model.is_loaded_in_4bit and model.device.type == "cpu"
    out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)


def test_four_bit_arguments_reach_bitsandbytes(tiny) -> None:
    import torch

    model = load(
        tiny,
        4,
        bnb_4bit_quant_type="fp4",
        bnb_4bit_use_double_quant=False,
        bnb_4bit_compute_dtype="bfloat16",
    )
    down_proj = model.model.layers[0].mlp.down_proj
    state = down_proj.weight.quant_state
    assert (state.quant_type, state.nested, down_proj.compute_dtype) == ("fp4", False, torch.bfloat16)


def test_eight_bit_loads_linear8bit(tiny) -> None:
    import bitsandbytes as bnb

    model = load(tiny, 8)
    assert isinstance(model.model.layers[1].mlp.up_proj, bnb.nn.Linear8bitLt)
    assert model.is_loaded_in_8bit


@pytest.mark.parametrize("bits", [None, 2])
def test_quant_bits_other_than_4_or_8_are_refused(tiny, bits) -> None:
    with pytest.raises(ArgumentError, match="--quant_bits must be 4 or 8"):
        load(tiny, bits)


def test_bad_storage_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="bnb_4bit_quant_storage must be one of"):
        BnbArguments(bnb_4bit_quant_storage="int4")


def test_bnb_arguments_need_the_bnb_quantizer(tiny) -> None:
    with pytest.raises(ArgumentError, match=r"bnb_4bit_quant_type.*quantizer 'bnb'"):
        start("sft", ["--model", str(tiny), "--bnb_4bit_quant_type", "fp4"])


def test_keep_trainable_stops_the_cpu_repacking_that_drops_gradients(tiny) -> None:
    import torch

    from tunekite_bnb.training import keep_trainable

    ids = torch.tensor([[1, 2, 3, 4]])
    untouched = load(tiny, 4)
    with torch.no_grad():
        untouched(input_ids=ids)  # eval mode, no gradients: bitsandbytes repacks for its CPU kernel
    layer = untouched.model.layers[0].mlp.down_proj
    if not getattr(layer.weight.quant_state, "packing_format_for_cpu", False):
        pytest.skip("this CPU has no AVX512-bf16: bitsandbytes does not repack here")
    assert keep_trainable(untouched) == 14  # 7 linear layers in each of 2 blocks
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)

    kept = load(tiny, 4)
    keep_trainable(kept)
    with torch.no_grad():
        kept(input_ids=ids)
    assert not getattr(kept.model.layers[0].mlp.down_proj.weight.quant_state, "packing_format_for_cpu", False)
    x = torch.randn(2, 128, requires_grad=True)
    kept.model.layers[0].mlp.down_proj(x).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_full_fine_tuning_of_quantized_weights_is_refused(tiny, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--model", str(tiny), "--tuner", "full", "--quant_method", "bnb", "--quant_bits", "4"]
    with pytest.raises(ArgumentError, match="quantized weights cannot be trained"):
        start("sft", [*argv, "--dataset", "unused.jsonl", "--report_to", "none"])


def mapped(path: Path) -> bool:
    """Whether this process has `path` memory-mapped (Linux's /proc/self/maps)."""
    return str(path.resolve()) in Path("/proc/self/maps").read_text()


def test_copying_the_unquantized_weights_closes_the_checkpoint_map(tiny) -> None:
    import gc

    import torch

    from tunekite_bnb.memory import copy_out_of_checkpoint

    checkpoint = tiny / "model.safetensors"
    model = load(tiny, 4)
    ids = torch.tensor([[1, 2, 3, 4]])
    with torch.no_grad():
        before = model(input_ids=ids).logits
    gc.collect()
    assert mapped(checkpoint), "transformers left the embeddings as views of the checkpoint map"
    assert copy_out_of_checkpoint(model) == 7  # embedding, output head, 2x2 layer norms, final norm
    gc.collect()
    assert not mapped(checkpoint)
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, before)
