"""Core's model loading with the installed `tunekite-gguf` plugin: `--model x.gguf` and the
named model go through the resolver to the plugin's cached folder and core's HF loader."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunekite.arguments.groups import ModelArguments
from tunekite.models import declared_template, load_model, load_tokenizer, model_folder, resolve_model_spec
from tunekite.plugin_host import get_host
from tunekite_gguf import testing


@pytest.fixture
def tiny_gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, object]:
    monkeypatch.setenv("TUNEKITE_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "tiny.gguf"
    return path, testing.write_tiny_gguf(path)


def test_gguf_path_loads_through_the_plugin_with_model_arguments(tiny_gguf) -> None:
    import torch

    path, original = tiny_gguf
    assert resolve_model_spec(str(path), host=get_host()).name == "gguf"
    model, tokenizer = load_model(ModelArguments(model=str(path), torch_dtype="bfloat16"), host=get_host())
    assert model.dtype == torch.bfloat16
    folder = model_folder(ModelArguments(model=str(path)), host=get_host())
    assert folder.parent == path.parent / "cache" / "gguf"
    ids = tokenizer("hello world", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = original.to(torch.bfloat16)(ids).logits
        assert model(ids).logits.equal(expected)


def test_tokenizer_only_reads_the_cache_without_weights(tiny_gguf, monkeypatch) -> None:
    import transformers

    path, _ = tiny_gguf
    model_folder(ModelArguments(model=str(path)), host=get_host())  # converted once

    def refuse(*args, **kwargs):
        raise AssertionError("weights were loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    assert load_tokenizer(ModelArguments(model=str(path)), host=get_host()).eos_token == "<|im_end|>"


def test_named_model_declares_its_template_without_loading() -> None:
    assert declared_template("smollm2-135m-instruct", host=get_host()) == "smollm2"
    assert resolve_model_spec("x.GGUF", host=get_host()).name == "gguf"
