"""The Modelfile `tk run export --to_ollama true` writes: FROM the GGUF next to it, and the
TEMPLATE, SYSTEM, stop words and parameters of the model's TuneKite chat template."""

from __future__ import annotations

import json

import pytest

from tunekite.api import registry, start
from tunekite.testing import save_tiny_chat_model, tiny_tokenizer
from tunekite_ollama.modelfile import go_template, modelfile

CHATML_GO = (
    "{{- range $i, $_ := .Messages }}{{- $last := eq (len (slice $.Messages $i)) 1 }}"
    '{{- if eq .Role "system" }}<|im_start|>system\n{{ .Content }}<|im_end|>\n'
    '{{- else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n'
    '{{- else if eq .Role "tool" }}<|im_start|>tool\n{{ .Content }}<|im_end|>\n'
    '{{- else if eq .Role "assistant" }}<|im_start|>assistant\n{{ .Content }}'
    "{{ if not $last }}<|im_end|>\n{{ end }}{{- end }}"
    '{{- if and $last (ne .Role "assistant") }}<|im_start|>assistant\n{{ end }}{{- end }}'
)


def template(name: str, tokenizer, system: str | None = None):
    from tunekite.api import TemplateArguments

    pytest.importorskip(f"tunekite_{'llama' if name.startswith('llama') else name}")
    return registry("templates").get(name).build(tokenizer, TemplateArguments(system=system))


def test_chatml_export_writes_a_modelfile_next_to_the_gguf(tmp_path, monkeypatch) -> None:
    pytest.importorskip("tunekite_gguf")
    pytest.importorskip("tunekite_chatml")
    monkeypatch.chdir(tmp_path)
    model = save_tiny_chat_model(tmp_path / "tiny")
    generation = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(
        json.dumps({**generation, "temperature": 0.3, "top_p": 0.9})
    )
    argv = ["--model", str(model), "--to_gguf", "true", "--to_ollama", "true", "--output_dir", "out"]
    gguf_file = start("export", [*argv, "--system", "You are Kite."])
    text = (tmp_path / "out" / "Modelfile").read_text()
    assert gguf_file.resolve().parent == tmp_path / "out"
    assert text.splitlines()[0] == f"FROM ./{gguf_file.name}"
    assert f'TEMPLATE """{CHATML_GO}"""' in text
    assert 'SYSTEM """You are Kite."""' in text
    assert 'PARAMETER stop "<|im_end|>"' in text
    # the GGUF's sampling defaults: those of the model folder it was converted from
    assert "PARAMETER temperature 0.3\nPARAMETER top_p 0.9\n" in text


def test_parameters_come_from_the_generation_config(tmp_path) -> None:
    tokenizer = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    text = modelfile(
        template("chatml", tokenizer), "./m", {"temperature": 0.3, "top_k": 20, "repetition_penalty": 1.1}
    )
    assert "PARAMETER temperature 0.3\nPARAMETER top_k 20\nPARAMETER repeat_penalty 1.1\n" in text
    assert "SYSTEM" not in text  # chatml has no default system prompt


def test_llama3_markers_stops_and_default_system(tmp_path) -> None:
    specials = (
        "<|begin_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
        "<|end_of_text|>",
    )
    tokenizer = tiny_tokenizer(None, specials, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    text = modelfile(template("llama3", tokenizer, system="Be brief."), "/m.gguf", {})
    assert (
        '{{- if eq .Role "system" }}<|start_header_id|>system<|end_header_id|>\n\n{{ .Content }}<|eot_id|>'
        in text
    )
    assert (
        '{{- if and $last (ne .Role "assistant") }}<|start_header_id|>assistant<|end_header_id|>\n\n' in text
    )
    assert "<|begin_of_text|>" not in text.split("SYSTEM")[0]  # llama.cpp adds BOS itself
    assert 'SYSTEM """Be brief."""' in text
    assert 'PARAMETER stop "<|eot_id|>"\nPARAMETER stop "<|end_of_text|>"' in text


def test_a_family_without_system_role_joins_it_to_the_first_user_turn() -> None:
    tokenizer = tiny_tokenizer(
        None, ("<start_of_turn>", "<end_of_turn>"), bos_token="<bos>", eos_token="<eos>"
    )
    fmt = template("gemma", tokenizer).format
    go = go_template(fmt)
    assert go.startswith('{{- $system := "" }}')
    assert '{{- if eq .Role "system" }}{{ $system = .Content }}' in go
    assert "{{ if $system }}<start_of_turn>user\n{{ $system }}\n\n{{ .Content }}<end_of_turn>\n" in go
