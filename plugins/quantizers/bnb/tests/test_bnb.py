"""The bnb quantizer through core's loader: the tiny model loads in 4-bit and 8-bit, the
ms-swift arguments reach `BitsAndBytesConfig`, bad bit widths are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunekite.api import ArgumentError, load_model, start
from tunekite.testing import save_tiny_chat_model
from tunekite_bnb.plugin import BnbArguments

pytest.importorskip("bitsandbytes")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """The tiny model, widened to bitsandbytes' CPU 4-bit block of 64 input features."""
    return save_tiny_chat_model(
        tmp_path_factory.mktemp("tiny") / "base", hidden_size=64, intermediate_size=128
    )


def resolved(tiny: Path, *extra: str):
    from tunekite.run import resolve  # the run as `tk run sft` resolves it, not started

    run, _ = resolve("sft", ["--model", str(tiny), "--tuner", "full", *extra])
    return run


def test_four_bit_nf4_loads_linear4bit_and_keeps_generating(tiny) -> None:
    import bitsandbytes as bnb
    import torch

    model, _ = load_model(resolved(tiny, "--quant_method", "bnb", "--quant_bits", "4"))
    q_proj = model.model.layers[0].self_attn.q_proj
    assert isinstance(q_proj, bnb.nn.Linear4bit)
    assert q_proj.weight.quant_state.quant_type == "nf4"
    assert q_proj.weight.quant_state.nested, "double quantization is ms-swift's default"
    assert model.is_loaded_in_4bit and model.device.type == "cpu"
    out = model.generate(torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)
    assert out.shape == (1, 6)


def test_four_bit_arguments_reach_bitsandbytes(tiny) -> None:
    import torch

    run = resolved(
        tiny,
        "--quant_method",
        "bnb",
        "--quant_bits",
        "4",
        "--bnb_4bit_quant_type",
        "fp4",
        "--bnb_4bit_use_double_quant",
        "false",
        "--bnb_4bit_compute_dtype",
        "bfloat16",
    )
    model, _ = load_model(run)
    down_proj = model.model.layers[0].mlp.down_proj
    state = down_proj.weight.quant_state
    assert (state.quant_type, state.nested, down_proj.compute_dtype) == ("fp4", False, torch.bfloat16)


def test_eight_bit_loads_linear8bit(tiny) -> None:
    import bitsandbytes as bnb

    model, _ = load_model(resolved(tiny, "--quant_method", "bnb", "--quant_bits", "8"))
    assert isinstance(model.model.layers[1].mlp.up_proj, bnb.nn.Linear8bitLt)
    assert model.is_loaded_in_8bit


@pytest.mark.parametrize("bits", [None, "2"])
def test_quant_bits_other_than_4_or_8_are_refused(tiny, bits) -> None:
    extra = ["--quant_bits", bits] if bits else []
    with pytest.raises(ArgumentError, match="--quant_bits must be 4 or 8"):
        load_model(resolved(tiny, "--quant_method", "bnb", *extra))


def test_bad_storage_dtype_is_refused() -> None:
    with pytest.raises(ValueError, match="bnb_4bit_quant_storage must be one of"):
        BnbArguments(bnb_4bit_quant_storage="int4")


def test_bnb_arguments_need_the_bnb_quantizer(tiny) -> None:
    with pytest.raises(ArgumentError, match=r"bnb_4bit_quant_type.*quantizer 'bnb'"):
        start("sft", ["--model", str(tiny), "--bnb_4bit_quant_type", "fp4"])
