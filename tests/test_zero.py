"""DeepSpeed ZeRO-2 and ZeRO-3 with 2 ranks over gloo on CPU, launched with torchrun as users
do: a run that stops after its step-2 checkpoint (what a kill leaves: checkpoints appear
whole or not at all) resumes to the same loss curve, and what the runs save loads without
DeepSpeed: the adapter with plain peft, the full ZeRO-3 model with plain transformers.

The first launch of a machine compiles DeepSpeed's CPU communication kernel (about 90 s,
g++ and ninja); torch caches it for every later run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import quick_sft_argv


def torchrun(model: Path, data: Path, out: Path, *extra: str) -> list[dict]:
    """`tk run sft` under torchrun with 2 ranks, 4 steps of 2 rows per rank, a checkpoint
    every 2 steps; returns the per-step log rows."""
    argv = quick_sft_argv(
        model, data, out, "--max_steps", "4", "--save_steps", "2", "--per_device_train_batch_size", "2",
        "--learning_rate", "1e-2", "--ddp_backend", "gloo", *extra,
    )  # fmt: skip
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    done = subprocess.run(
        [*launch, "-m", "tunekite", "run", "sft", *argv], capture_output=True, text=True, timeout=900
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-5000:]
    rows = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    return [r for r in rows if "loss" in r]


def resumed_curve_matches(tiny_chat, tmp_path: Path, *extra: str) -> Path:
    """Train 4 steps; resume another run from the first one's checkpoint-2; steps 3 and 4 of
    both must agree. Returns the first run's checkpoint-4."""
    model, data = tiny_chat
    whole = torchrun(model, data, tmp_path / "whole", *extra)
    resumed = torchrun(
        model,
        data,
        tmp_path / "resumed",
        *extra,
        "--resume_from_checkpoint",
        str(tmp_path / "whole/checkpoint-2"),
    )
    assert [r["step"] for r in resumed] == [3, 4]
    for a, b in zip(whole[2:], resumed, strict=True):
        assert b["loss"] == pytest.approx(a["loss"], rel=1e-5) and b["grad_norm"] == pytest.approx(
            a["grad_norm"], rel=1e-4
        )
    assert whole[-1]["loss"] < whole[0]["loss"]  # it learned
    return tmp_path / "whole/checkpoint-4"


@pytest.mark.parametrize("zero", ["zero2", "zero3"])
def test_lora_under_zero_resumes_to_the_same_curve_and_saves_a_peft_adapter(
    tiny_chat, tmp_path, zero
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    checkpoint = resumed_curve_matches(tiny_chat, tmp_path, "--tuner", "lora", "--deepspeed", zero)
    assert (checkpoint / "global_step4").is_dir()  # DeepSpeed's own state, for the resume
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_chat[0]), checkpoint)
    trained = {k: v for k, v in model.state_dict().items() if "lora_B" in k}
    assert trained and all(v.abs().sum() > 0 for v in trained.values())  # lora_B starts at zero


def test_zero3_full_tuning_saves_a_model_plain_transformers_loads(tiny_chat, tmp_path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    model, data = tiny_chat
    rows = torchrun(model, data, tmp_path / "full", "--tuner", "full", "--deepspeed", "zero3")
    assert rows[-1]["loss"] < rows[0]["loss"]
    checkpoint = tmp_path / "full/checkpoint-4"
    base = AutoModelForCausalLM.from_pretrained(tiny_chat[0])
    tuned = AutoModelForCausalLM.from_pretrained(checkpoint)  # gathered 16-bit-on-save weights, no DeepSpeed
    assert {k: v.shape for k, v in tuned.state_dict().items()} == {
        k: v.shape for k, v in base.state_dict().items()
    }
    ids = torch.tensor([[1, 2, 3, 4]])
    assert not torch.allclose(tuned(ids).logits, base(ids).logits)
