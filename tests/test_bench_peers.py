"""bench/peers and bench/sft.py: the pieces that decide what the comparison measures, without
the peers (their environments are `make bench-peers`, not CI) or a GPU: the same settings
reach every peer's command line, their result files are read right, peak RSS covers the
process tree, and a GPU run measures its own configurations, batches and memory."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import yaml


def _load_peers_package() -> None:
    """bench/peers as the package `peers`, as the bench scripts see it, without putting bench/
    on sys.path (its vllm.py would shadow the vllm package for the rest of the session)."""
    folder = Path(__file__).resolve().parents[1] / "bench" / "peers"
    spec = importlib.util.spec_from_file_location(
        "peers", folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules["peers"] = package
    spec.loader.exec_module(package)


_load_peers_package()

from peers import llamafactory, ms_swift, sft_peers  # noqa: E402
from peers.process import Measured, bench_env, run_measured  # noqa: E402
from peers.setting import SftSetting  # noqa: E402


def test_ours_and_the_peers_take_turns() -> None:
    assert sft_peers.alternate(["a", "b", "c"], ["x", "y"]) == ["a", "x", "b", "y", "c"]
    assert sft_peers.alternate(["a"], ["x", "y"]) == ["a", "x", "y"]


def test_ratios_are_ours_over_each_peer() -> None:
    ours = {"padded": {"train_runtime_s": 20.0}, "fast": {"train_runtime_s": 10.0 / 1.5}}
    peers = {"ms-swift": {"train_runtime_s": 10.0}}
    assert sft_peers.ratios(ours, peers) == {"padded_over_ms-swift": 0.5, "fast_over_ms-swift": 1.5}


def test_both_peers_get_the_same_training_settings(tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text('{"messages": []}\n')
    setting = SftSetting(model_dir=tmp_path / "model", data=data, steps=7)
    swift_argv = ms_swift.sft_command(setting, tmp_path / "swift")
    swift = dict(zip(swift_argv[2::2], swift_argv[3::2], strict=True))
    config_file = Path(llamafactory.sft_command(setting, tmp_path / "lf")[-1])
    factory = yaml.safe_load(config_file.read_text())  # what llamafactory-cli reads from a .yaml
    pairs = {
        "--max_steps": "max_steps",
        "--per_device_train_batch_size": "per_device_train_batch_size",
        "--max_length": "cutoff_len",
        "--lora_rank": "lora_rank",
        "--lora_alpha": "lora_alpha",
        "--lora_dropout": "lora_dropout",
        "--learning_rate": "learning_rate",
        "--lr_scheduler_type": "lr_scheduler_type",
        "--weight_decay": "weight_decay",
        "--adam_beta2": "adam_beta2",
        "--max_grad_norm": "max_grad_norm",
        "--seed": "seed",
        "--system": "default_system",
        "--model": "model_name_or_path",
    }
    for swift_name, factory_name in pairs.items():
        assert swift[swift_name] == str(factory[factory_name]), swift_name
    assert factory["learning_rate"] == 1e-4 and factory["max_steps"] == 7
    assert (factory["bf16"], factory["fp16"], factory["disable_gradient_checkpointing"]) == (
        False,
        False,
        True,
    )
    info = json.loads((Path(factory["dataset_dir"]) / "dataset_info.json").read_text())
    assert Path(info[factory["dataset"]]["file_name"]) == data.resolve()


def test_swift_results_are_read_from_its_log_files(tmp_path: Path) -> None:
    rows = [
        {"loss": 5.7, "global_step/max_steps": "1/2"},
        {"loss": 5.4, "global_step/max_steps": "2/2"},
        {"train_runtime": 12.5, "train_loss": 5.55},
    ]
    (tmp_path / "logging.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert ms_swift.sft_result(tmp_path) == (12.5, 5.4)
    log = tmp_path / "infer.log"
    stats = "{'num_prompt_tokens': 900, 'num_generated_tokens': 4096, 'num_samples': 64, 'runtime': 20.0}"
    log.write_text(f"[INFO:swift] loading\n[rank0] {stats}\n")
    assert ms_swift.infer_result(log) == (20.0, 4096)
    log.write_text("[INFO:swift] crashed before the end\n")
    with pytest.raises(SystemExit, match="no InferStats line"):
        ms_swift.infer_result(log)


def test_llamafactory_results_are_read_from_its_files(tmp_path: Path) -> None:
    (tmp_path / "train_results.json").write_text(json.dumps({"train_runtime": 30.0}))
    logs = [{"current_steps": 1, "loss": 2.0}, {"current_steps": 2, "loss": 1.5}, {"current_steps": 2}]
    (tmp_path / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in logs))
    assert llamafactory.sft_result(tmp_path) == (30.0, 1.5)
    (tmp_path / "predict_results.json").write_text(json.dumps({"predict_runtime": 8.0}))
    (tmp_path / "generated_predictions.jsonl").write_text('{"predict": "a b"}\n{"predict": "c"}\n')
    assert llamafactory.infer_result(tmp_path) == (8.0, ["a b", "c"])


def test_peak_rss_counts_the_whole_process_tree(tmp_path: Path) -> None:
    """A parent that only waits for a child holding 300 MB: the peak must include the child."""
    child = "import time; block = bytearray(300 * 2**20); time.sleep(1.5)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}], check=True)"
    measured = run_measured([sys.executable, "-c", parent], tmp_path / "log")
    assert measured.returncode == 0
    assert measured.peak_rss_mb > 300


def _load_sft_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_sft", Path(__file__).resolve().parents[1] / "bench" / "sft.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


sft = _load_sft_bench()


def _target(
    tmp_path: Path, device: str = "cuda", batches: tuple[int, ...] = (4, 32), model: str = "m"
) -> object:
    return sft.Target(
        device, model, tmp_path / "data.jsonl", tmp_path, 3, {"tokens": 100, "flops": 1e9}, batches
    )


def test_only_a_cpu_run_hides_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    assert bench_env("cpu")["CUDA_VISIBLE_DEVICES"] == ""
    assert bench_env("cuda")["CUDA_VISIBLE_DEVICES"] == "1"


def test_a_gpu_run_measures_gpu_configurations_without_the_cpu_peers(monkeypatch: pytest.MonkeyPatch) -> None:
    for argv, says in (
        (["--configs", "glibc_malloc"], "--configs glibc_malloc: not measured on cuda"),
        (["--peers", "ms-swift"], "hold a CPU torch"),
    ):
        monkeypatch.setattr(sys, "argv", ["sft.py", "--device", "cuda", *argv])
        with pytest.raises(SystemExit, match=says):
            sft.main()
    assert sft.DTYPE["bf16_autocast_padding_free"] == "bfloat16" and sft.DTYPE["padding_free"] == "float32"


def test_a_gpu_row_records_its_batch_and_the_logged_gpu_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """run_config's command line and row, with `tk run sft` replaced by a writer of its logs."""
    seen: list[list[str]] = []

    def fake_run(argv: list[str], log: Path, env: dict[str, str]) -> object:
        seen.append(argv)
        out = Path(argv[argv.index("--output_dir") + 1])
        out.mkdir(parents=True)
        records = [
            {"loss": 2.0, "memory(GiB)": 1.5},
            {"loss": 1.0, "memory(GiB)": 2.25},
            {"train_runtime": 4.0},
        ]
        (out / "logging.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        log.write_text("batches: padded, grouped by length (GPU default)\n")
        assert "CUDA_VISIBLE_DEVICES" not in env or env["CUDA_VISIBLE_DEVICES"] == os.environ.get(
            "CUDA_VISIBLE_DEVICES"
        )
        return Measured(5.0, 900.0, 0)

    monkeypatch.setattr(sft, "run_measured", fake_run)
    row = sft.run_config("padding_free", sft.GPU_CONFIGS["padding_free"], _target(tmp_path), batch=32)
    argv = seen[0]
    assert argv[argv.index("--per_device_train_batch_size") + 1] == "32"
    assert argv[argv.index("--template") + 1] == "smollm2"  # a folder is told its template
    assert argv[argv.index("--output_dir") + 1] == str(tmp_path / "padding_free_b32")
    assert row["samples_per_s"] == 3 * 32 / 4.0
    assert row["peak_gpu_reserved_gib"] == 2.25
    assert row["batches"].startswith("batches: padded")


def test_ratios_compare_rows_of_the_same_batch(tmp_path: Path) -> None:
    target = _target(tmp_path)
    ours = {"default": {"train_runtime_s": 10.0}, "bf16_weights": {"train_runtime_s": 5.0}}
    assert sft._ratios(ours, {}, 32, target) == {"bf16_weights_b32_over_default_b32": 2.0}
    alone = _target(tmp_path, "cpu", (4,))
    peers = {"ms-swift": {"train_runtime_s": 20.0}}
    assert sft._ratios(ours, peers, 4, alone) == {
        "bf16_weights_over_default": 2.0,
        "default_over_ms-swift": 2.0,
        "bf16_weights_over_ms-swift": 4.0,
    }


def test_random_weights_keep_the_architecture_and_tokenizer_and_follow_the_seed(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file

    from tunekite.testing import save_tiny_chat_model

    source = save_tiny_chat_model(tmp_path / "source", seed=5)
    first = sft.random_weights(source, tmp_path / "first")
    again = sft.random_weights(source, tmp_path / "again")
    other = sft.random_weights(source, tmp_path / "other", seed=1)
    assert (first / "tokenizer.json").read_bytes() == (source / "tokenizer.json").read_bytes()
    assert (
        json.loads((first / "config.json").read_text())["hidden_size"]
        == json.loads((source / "config.json").read_text())["hidden_size"]
    )
    weights = {
        name: load_file(folder / "model.safetensors")
        for name, folder in (("source", source), ("first", first), ("again", again), ("other", other))
    }
    name = "model.layers.0.self_attn.q_proj.weight"
    assert weights["first"].keys() == weights["source"].keys()
    assert torch.equal(weights["first"][name], weights["again"][name])
    assert not torch.equal(weights["first"][name], weights["other"][name])
    assert not torch.equal(weights["first"][name], weights["source"][name])
    assert weights["first"][name].dtype == torch.float32
