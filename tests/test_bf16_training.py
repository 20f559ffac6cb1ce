"""bf16 LoRA training on the CPU: the start-up line names the precision (bf16 weights keep
the trained adapters in float32), losses stay close to float32's, and a CPU without
native bf16 is warned about."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from tunekite.testing import tiny_causal_lm
from tunekite.training.precision import describe_precision


def lora_losses(sft_argv, out, capsys, *extra: str) -> tuple[list[float], str]:
    """The logged losses of six LoRA steps and the run's precision line."""
    from tunekite.api import start

    argv = ["--tuner", "lora", "--max_steps", "6", "--learning_rate", "1e-3", "--save_strategy", "no"]
    start("sft", sft_argv(out, *argv, "--per_device_train_batch_size", "4", *extra))
    logs = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    line = next(x for x in capsys.readouterr().err.splitlines() if x.startswith("precision:"))
    return [r["loss"] for r in logs if "loss" in r], line


def test_bf16_modes_train_their_adapters_in_float32_close_to_float32(sft_argv, tmp_path, capsys) -> None:
    fp32, line = lora_losses(sft_argv, tmp_path / "fp32", capsys, "--torch_dtype", "float32")
    assert line == "precision: no autocast, weights float32 (trained: float32)"
    autocast, line = lora_losses(
        sft_argv, tmp_path / "ac", capsys, "--torch_dtype", "float32", "--bf16", "true"
    )
    assert line == "precision: bf16 autocast, weights float32 (trained: float32)"
    weights, line = lora_losses(sft_argv, tmp_path / "bf16", capsys, "--torch_dtype", "bfloat16")
    assert line == "precision: bf16 autocast, weights bfloat16/float32 (trained: float32)"
    for losses in (autocast, weights):
        assert len(losses) == len(fp32) == 6
        assert losses[-1] == pytest.approx(fp32[-1], rel=0.05)


def test_a_cpu_without_native_bf16_is_warned_about(monkeypatch) -> None:
    model = tiny_causal_lm().to(torch.bfloat16)
    args = SimpleNamespace(bf16=True, fp16=False, device=torch.device("cpu"))
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    assert describe_precision(model, args).endswith("expect it slower than float32")
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert describe_precision(model, args) == "bf16 autocast, weights bfloat16 (trained: bfloat16)"
