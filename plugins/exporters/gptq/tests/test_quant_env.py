"""GPTQ and AWQ of the real SmolLM2-135M-Instruct, in the quant environment only (`make
test-quant`; gptqmodel needs torch>=2.14.1): the folder loads with plain transformers
(optimum installed), has a zero point per group of 32 weights, and its perplexity on a
held-out text stays within 15 % of the unquantized model's, with the same tokenizer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tunekite.api import model_folder, resolve, start

pytest.importorskip("gptqmodel", reason="gptqmodel lives in the quant environment: make test-quant")
pytest.importorskip("optimum", reason="transformers loads GPTQ/AWQ folders through optimum")
pytest.importorskip("tunekite_gguf")

HELD_OUT = (
    "The river rises in the hills above the town and runs for forty miles before it reaches the sea. "
    "In spring the melting snow swells it until it floods the meadows along its banks, and the farmers "
    "move their sheep to higher ground. By late summer it has shrunk to a slow, clear stream."
)


def perplexity(folder: Path, ids) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, device_map="cpu").eval()
    with torch.no_grad():
        return math.exp(model(input_ids=ids, labels=ids).loss.float().item())


@pytest.mark.slow
@pytest.mark.parametrize(
    "method",
    [
        "gptq",
        pytest.param(
            "awq",
            marks=pytest.mark.xfail(
                strict=True,
                reason="measured 2026-11-30 (16 bundled conversations, group size 32, zero points): AWQ "
                "52.93 against 41.00 unquantized (+29 %; symmetric: 65.1); its per-channel scales move "
                "the weights off SmolLM2's Q4_1 grid, which GPTQ keeps (43.94, +7.2 %)",
            ),
        ),
    ],
)
def test_smollm2_quantized_within_15_percent_perplexity(method, tmp_path, monkeypatch) -> None:
    import torch
    from transformers import AutoTokenizer

    monkeypatch.chdir(tmp_path)
    base = Path(model_folder(resolve("infer", ["--model", "smollm2-135m-instruct"])[0]))
    argv = ["--model", str(base), "--quant_method", method, "--quant_bits", "4", "--quant_n_samples", "16"]
    # SmolLM2's 576-wide layers: 128 does not divide them. The packaged weights were Q4_1
    # (asymmetric, blocks of 32), which a zero-point grid of groups of 32 follows closely.
    argv += ["--group_size", "32"]
    out = start("export", [*argv, "--output_dir", str(tmp_path / method)])
    config = json.loads((out / "config.json").read_text())
    written = config["quantization_config"]
    assert written["bits"] == 4 and (written["zero_point"] if method == "awq" else not written["sym"])
    ids = torch.tensor([AutoTokenizer.from_pretrained(base)(HELD_OUT)["input_ids"]])
    reference, quantized = perplexity(base, ids), perplexity(out, ids)
    print(f"{method}: perplexity {quantized:.3f} against {reference:.3f} unquantized")
    assert quantized <= 1.15 * reference


def test_quantizing_leaves_nothing_in_the_working_folder(tmp_path, monkeypatch) -> None:
    """gptqmodel writes its per-layer logs into ./logs. GPTQ only: gptqmodel's AWQ clip search
    asserts on the tiny model's narrow layers (and then exits the process)."""
    from tunekite.testing import save_tiny_chat_model

    tiny = save_tiny_chat_model(tmp_path / "tiny")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    argv = ["--model", str(tiny), "--quant_method", "gptq", "--quant_bits", "4", "--group_size", "16"]
    out = start("export", [*argv, "--quant_n_samples", "4", "--output_dir", str(tmp_path / "out")])
    assert json.loads((out / "config.json").read_text())["quantization_config"]["bits"] == 4
    assert list(work.iterdir()) == []
