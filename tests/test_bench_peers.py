"""bench/peers: the pieces that decide what the peer comparison measures, without the peers
(their environments are `make bench-peers`, not CI): the same settings reach every peer's
command line, their result files are read right, and peak RSS covers the process tree."""

from __future__ import annotations

import importlib.util
import json
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
from peers.process import run_measured  # noqa: E402
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
