"""The gptq/awq exporters in TuneKite's main environment, where gptqmodel cannot be installed
(it needs a newer torch): the refusal names `make quant-env`, and the calibration data is
the run's conversations rendered through the model's template. The quantization itself is
tested in the quant environment (`make test-quant`, test_quant_env.py)."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tunekite.api import ArgumentError, TunekiteError, resolve, start
from tunekite.testing import save_tiny_chat_model
from tunekite_gptq.quantize import awq_blocks, calibration

pytest.importorskip("tunekite_chatml")


@pytest.fixture
def tiny(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return save_tiny_chat_model(tmp_path / "tiny")


@pytest.mark.skipif(importlib.util.find_spec("gptqmodel") is not None, reason="gptqmodel is installed here")
@pytest.mark.parametrize("method", ["gptq", "awq"])
def test_without_gptqmodel_the_refusal_names_the_environment(tiny, method) -> None:
    with pytest.raises(TunekiteError, match=r"needs gptqmodel.*make quant-env"):
        argv = ["--model", str(tiny), "--quant_method", method, "--quant_bits", "4", "--group_size", "16"]
        start("export", [*argv, "--output_dir", "q"])


def test_gptq_needs_bits_and_awq_only_writes_four(tiny) -> None:
    with pytest.raises(ArgumentError, match="pass --quant_bits 2, 3, 4 or 8"):
        start("export", ["--model", str(tiny), "--quant_method", "gptq", "--output_dir", "q"])
    with pytest.raises(ArgumentError, match="AWQ writes 4-bit weights"):
        start(
            "export",
            ["--model", str(tiny), "--quant_method", "awq", "--quant_bits", "8", "--output_dir", "q"],
        )


def test_calibration_renders_the_dataset_through_the_template(tiny, tmp_path) -> None:
    from transformers import AutoTokenizer

    data = tmp_path / "calib.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
        for i in range(5)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    argv = ["--model", str(tiny), "--quant_method", "gptq", "--quant_bits", "4", "--dataset", str(data)]
    run, _ = resolve("export", [*argv, "--quant_n_samples", "3", "--max_length", "9"])
    samples = calibration(run.component_args(run.components["exporters"][0]), run, "gptq")
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    assert len(samples) == 3
    full = tokenizer("<|im_start|>user\nq0<|im_end|>\n<|im_start|>assistant\na0<|im_end|>\n")["input_ids"]
    assert samples[0]["input_ids"] == full[:9] and samples[0]["attention_mask"] == [1] * 9


def test_without_dataset_the_bundled_sample_calibrates(tiny) -> None:
    run, _ = resolve("export", ["--model", str(tiny), "--quant_method", "awq"])
    args = run.component_args(run.components["exporters"][0])
    conversations = calibration(args, run, "gptq")
    assert len(conversations) == 16 and all(len(s["input_ids"]) > 10 for s in conversations)
    # AWQ: the same tokens end to end, one block (fewer than --max_length's 2048)
    (block,) = calibration(args, run, "awq")
    assert block["input_ids"] == [token for s in conversations for token in s["input_ids"]]
    assert block["attention_mask"] == [1] * len(block["input_ids"])


def test_awq_blocks_are_equally_long_and_drop_a_partial_last_block() -> None:
    conversations = [[1, 2, 3], [4, 5], [6, 7, 8, 9], [10]]
    assert awq_blocks(conversations, 4) == [[1, 2, 3, 4], [5, 6, 7, 8]]
    assert awq_blocks(conversations, 20) == [list(range(1, 11))]


def test_a_group_size_that_does_not_divide_the_layers_is_refused(tiny) -> None:
    config = json.loads((tiny / "config.json").read_text())
    argv = ["--model", str(tiny), "--quant_method", "gptq", "--quant_bits", "4", "--group_size", "48"]
    with pytest.raises(ArgumentError, match=f"--group_size 48 does not divide .*{config['hidden_size']}"):
        start("export", [*argv, "--output_dir", "q"])
