"""The gguf exporter on a tiny chat model: llama.cpp's names and metadata as the `gguf`
package reads them back, the tokenizer and chat template carried over, quantized types
written, and models it cannot convert refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import ArgumentError, start
from tunekite.testing import save_tiny_chat_model


@pytest.fixture
def tiny(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return save_tiny_chat_model(tmp_path / "tiny", hidden_size=64, intermediate_size=128)


def export(model: Path, *extra: str) -> Path:
    return start("export", ["--model", str(model), "--to_gguf", "true", "--output_dir", "out", *extra])


def test_llama_names_metadata_and_tokenizer(tiny) -> None:
    import gguf
    from transformers import AutoTokenizer

    path = export(tiny, "--gguf_quantization", "q8_0")
    reader = gguf.GGUFReader(path)
    fields = {name: f.contents() for name, f in reader.fields.items()}
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    config = json.loads((tiny / "config.json").read_text())
    assert fields["general.architecture"] == "llama"
    assert fields["llama.block_count"] == config["num_hidden_layers"] == 2
    assert fields["llama.attention.head_count_kv"] == config["num_key_value_heads"]
    assert fields["tokenizer.ggml.model"] == "gpt2"
    assert fields["tokenizer.ggml.tokens"][: len(tokenizer)] == tokenizer.convert_ids_to_tokens(
        list(range(len(tokenizer)))
    )
    assert fields["tokenizer.ggml.eos_token_id"] == tokenizer.eos_token_id
    assert fields["tokenizer.chat_template"] == tokenizer.chat_template
    assert len(fields["tokenizer.ggml.merges"]) > 0
    types = {t.name: t.tensor_type.name for t in reader.tensors}
    assert types["blk.0.attn_q.weight"] == "Q8_0" and types["token_embd.weight"] == "Q8_0"
    assert types["blk.0.attn_norm.weight"] == "F32"  # norms stay f32
    assert "output.weight" in types  # the tiny model does not tie its embeddings


@pytest.mark.parametrize("quantization", ["q8_0", "q4_0"])
def test_quantized_files_load_back_close_to_the_model(tiny, quantization, cache_dir) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    from tunekite_gguf.convert import hf_folder

    path = export(tiny, "--gguf_quantization", quantization)
    original = AutoModelForCausalLM.from_pretrained(tiny)
    back = AutoModelForCausalLM.from_pretrained(hf_folder(path))
    ids = torch.tensor([[3, 50, 7, 120, 9]])
    with torch.no_grad():
        a, b = original(input_ids=ids).logits, back(input_ids=ids).logits
    assert not torch.equal(a, b)
    assert torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0) > 0.98


def test_refuses_an_architecture_it_cannot_map(tiny) -> None:
    config = json.loads((tiny / "config.json").read_text())
    (tiny / "config.json").write_text(json.dumps({**config, "model_type": "gpt_neox"}))
    with pytest.raises(ArgumentError, match="'gpt_neox' model; the GGUF exporter writes llama"):
        export(tiny)
    assert not list(Path("out").glob("*.gguf"))  # nothing half-written
