"""`--deepspeed` into the config transformers takes: the ms-swift presets, a JSON file,
ZeRO++ hpZ, and the refusals (GPU-only offload on CPU, nccl, checkpoints that would hold no
weights, no plugin). Training under ZeRO-2/3 with 2 ranks is in tests/test_zero.py."""

from __future__ import annotations

import json

import pytest
from tunekite_deepspeed.config import PRESETS, resolved_config, training_fields

from tunekite.api import ArgumentError, PluginHost, resolve


def run_with(*extra: str):
    run, _ = resolve("sft", ["--model", "some/model", "--tuner", "full", *extra])
    return run


def fields(*extra: str, cuda: bool = False) -> dict:
    run = run_with(*extra)
    return resolved_config(run.component_args(run.component("parallelisms")), run, cuda=cuda)


def test_presets_keep_auto_values_for_transformers_to_fill() -> None:
    assert PRESETS == ("zero0", "zero1", "zero2", "zero2_offload", "zero3", "zero3_offload")
    for name, stage in (("zero0", 0), ("zero1", 1), ("zero2", 2), ("zero3", 3)):
        run = run_with("--deepspeed", name)
        out = training_fields(run.component_args(run.component("parallelisms")), run)
        assert out["deepspeed"]["zero_optimization"]["stage"] == stage
        assert out["deepspeed"]["train_micro_batch_size_per_gpu"] == "auto"
        assert out["ddp_backend"] == "gloo"  # this machine has no CUDA
    assert fields("--deepspeed", "zero3")["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"]


def test_hpz_goes_into_zero3_and_is_refused_elsewhere(monkeypatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "4")
    zero = fields("--deepspeed", "zero3", "--zero_hpz_partition_size", "2")["zero_optimization"]
    assert zero["zero_hpz_partition_size"] == 2
    with pytest.raises(ArgumentError, match="a ZeRO-3 feature; --deepspeed zero2 is stage 2"):
        fields("--deepspeed", "zero2", "--zero_hpz_partition_size", "2")
    with pytest.raises(ArgumentError, match="must divide the 4 ranks"):
        fields("--deepspeed", "zero3", "--zero_hpz_partition_size", "3")


def test_offload_is_refused_without_cuda_and_kept_with_it() -> None:
    for preset in ("zero2_offload", "zero3_offload"):
        with pytest.raises(
            ArgumentError, match="its CPU-Adam kernels need CUDA; on this CPU-only machine"
        ) as info:
            fields("--deepspeed", preset)
        assert "\n" not in str(info.value)
    assert (
        fields("--deepspeed", "zero3_offload", cuda=True)["zero_optimization"]["offload_param"]["device"]
        == "cpu"
    )


def test_a_json_file_is_read_and_bad_ones_are_named(tmp_path) -> None:
    good = tmp_path / "ds.json"
    good.write_text(json.dumps({"zero_optimization": {"stage": 2}, "train_batch_size": "auto"}))
    assert fields("--deepspeed", str(good))["zero_optimization"] == {"stage": 2}
    broken = tmp_path / "broken.json"
    broken.write_text("{stage: 2")
    with pytest.raises(ArgumentError, match=f"--deepspeed {broken}: not a readable JSON file"):
        fields("--deepspeed", str(broken))
    with pytest.raises(ArgumentError, match=r"neither a preset .zero0, .* nor a JSON file"):
        fields("--deepspeed", "zero4")
    no_weights = tmp_path / "z3.json"
    no_weights.write_text(
        json.dumps({"zero_optimization": {"stage": 3, "stage3_gather_16bit_weights_on_model_save": False}})
    )
    with pytest.raises(ArgumentError, match="would hold no weights that load without DeepSpeed"):
        fields("--deepspeed", str(no_weights))


def test_nccl_is_refused_on_cpu() -> None:
    run = run_with("--deepspeed", "zero2", "--ddp_backend", "nccl")
    with pytest.raises(ArgumentError, match=r"--ddp_backend nccl needs GPUs .* DeepSpeed runs over gloo"):
        training_fields(run.component_args(run.component("parallelisms")), run)


def test_installed_but_not_loaded_says_so() -> None:
    host = PluginHost(env={"TUNEKITE_PLUGINS": "lora"})
    with pytest.raises(ArgumentError) as info:
        resolve("sft", ["--model", "some/model", "--deepspeed", "zero2"], host)
    assert str(info.value).startswith("--deepspeed: Unknown parallelism 'deepspeed'.")
    assert "provided by tunekite-deepspeed, installed but not loaded" in str(info.value)
    assert "\n" not in str(info.value)
