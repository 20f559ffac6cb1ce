"""The quantizers kind: `--quant_method NAME` selects a plugin whose factory adds
`from_pretrained` kwargs; a checkpoint's args.json brings the quantizer and its own
arguments back; ms-swift's hqq/eetq get a clear "not available"."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from tunekite import hookimpl
from tunekite.api import resolve
from tunekite.arguments.fields import arg
from tunekite.errors import ArgumentError
from tunekite.models.loader import load_model
from tunekite.registrations import QuantizerSpec, TunerSpec
from tunekite.tasks.loading import with_checkpoint_args

SEEN: list[tuple] = []


@dataclass(kw_only=True)
class FakeQuantArguments:
    fake_half: bool = arg(False, help="load in bfloat16, so the effect is visible")


def fake_kwargs(args: FakeQuantArguments, run) -> dict:
    import torch

    SEEN.append((args.fake_half, run.groups["quantization"].quant_bits))
    return {"dtype": torch.bfloat16 if args.fake_half else torch.float32}


@hookimpl
def tk_register_quantizers(register):
    register(
        QuantizerSpec(name="fake", summary="a test quantizer", args=FakeQuantArguments, factory=fake_kwargs)
    )


@hookimpl
def tk_register_tuners(register):
    register(TunerSpec(name="lora", summary="stand-in", factory=lambda model, *_: model))


FakeQuant = type(
    "FakeQuant", (), {f.__name__: staticmethod(f) for f in (tk_register_quantizers, tk_register_tuners)}
)


@pytest.fixture
def host(tk_plugins, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    SEEN.clear()
    return tk_plugins.add(FakeQuant, name="fake-quant")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from tunekite.testing import save_tiny_chat_model

    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "base")


def test_selected_quantizer_kwargs_reach_from_pretrained(host, tiny) -> None:
    run, _ = resolve(
        "sft", ["--model", str(tiny), "--quant_method", "fake", "--quant_bits", "4", "--fake_half", "true"]
    )
    model, _ = load_model(run)
    assert SEEN == [(True, 4)]
    assert str(model.dtype) == "torch.bfloat16"


def test_no_quant_method_adds_nothing(host, tiny) -> None:
    run, _ = resolve("sft", ["--model", str(tiny)])
    load_model(run)
    assert SEEN == []


def test_quant_bits_alone_is_refused(host, tiny) -> None:
    expected = r"--quant_bits is read by the selected quantizer.*--quant_method"
    with pytest.raises(ArgumentError, match=expected):
        resolve("sft", ["--model", str(tiny), "--quant_bits", "4"])


def test_quantizer_arguments_need_their_quantizer(host, tiny) -> None:
    with pytest.raises(ArgumentError, match=r"fake_half.*quantizer 'fake'"):
        resolve("sft", ["--model", str(tiny), "--fake_half", "true"])


def test_checkpoint_brings_back_its_quantizer_and_arguments(host, tiny, tmp_path) -> None:
    checkpoint = tmp_path / "run" / "checkpoint-1"
    checkpoint.mkdir(parents=True)
    saved = {"model": str(tiny), "quant_method": "fake", "quant_bits": 8, "fake_half": True}
    (checkpoint.parent / "args.json").write_text(json.dumps(saved))
    run, _ = resolve("infer", ["--adapters", str(checkpoint)])
    filled = with_checkpoint_args(run)
    load_model(filled)
    assert SEEN == [(True, 8)]


@pytest.mark.parametrize("name", ["hqq", "eetq"])
def test_hqq_and_eetq_are_refused_with_a_reason(host, tiny, name) -> None:
    with pytest.raises(ArgumentError, match=rf"--quant_method: Unknown quantizer '{name}'.*not available"):
        resolve("sft", ["--model", str(tiny), "--quant_method", name])
