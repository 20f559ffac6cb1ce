"""`tk run sample`'s output is training data as it is: `tk run sft` trains on every row
(best-of-N and MCTS output together), and `tk run rlhf --rlhf_type dpo` on the rows that
carry a `rejected_response`. Cross-distribution: tunekite-sample, tunekite-lora,
tunekite-rlhf, with a reward from a local plugin file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import quick_sft_argv
from tunekite.api import PluginHost, start

LENGTH_REWARD = """
from tunekite.api import RewardSpec, hookimpl


def build(args=None):
    return lambda completions, **columns: [float(len(c)) for c in completions]


@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="chars", summary="length in characters", factory=build))
"""


@pytest.fixture(scope="module")
def sampled(tiny_chat: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Best-of-4 (2 kept per prompt) and MCTS output of the tiny chat model on 8 prompts."""
    model, data = tiny_chat
    work = tmp_path_factory.mktemp("sampled")
    plugin = work / "chars_reward.py"
    plugin.write_text(LENGTH_REWARD)
    common = [
        "--model", str(model), "--dataset", f"{data}#8", "--output_dir", str(work),
        "--custom_register_path", str(plugin), "--orm_model", "chars", "--max_new_tokens", "8",
    ]  # fmt: skip
    best_of_n = ["--num_return_sequences", "4", "--n_best_to_keep", "2"]
    best_of_n += ["--num_sampling_per_gpu_batch_size", "8"]
    best = start("sample", [*common, "--output_file", "best.jsonl", *best_of_n], PluginHost())
    mcts_args = ["--sampler_type", "mcts", "--stop_words", " ", "--num_return_sequences", "2"]
    mcts_args += ["--max_iterations", "2", "--num_sampling_per_gpu_batches", "2"]
    mcts = start("sample", [*common, "--output_file", "mcts.jsonl", *mcts_args], PluginHost())
    return {"best": best, "mcts": mcts}


def rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_sft_trains_on_every_sampled_row(
    sampled: dict[str, Path], tiny_chat, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model, _ = tiny_chat
    best, mcts = rows(sampled["best"]), rows(sampled["mcts"])
    assert len(best) >= 8 and all(r["messages"][-1]["role"] == "assistant" for r in best)
    answered = [r for r in mcts if r["messages"][-1]["role"] == "assistant"]
    argv = quick_sft_argv(model, sampled["best"], tmp_path / "sft", "--max_steps", "2", "--save_steps", "2",
                          "--per_device_train_batch_size", "2")  # fmt: skip
    argv[argv.index("--dataset") + 1 : argv.index("--dataset") + 2] = [
        str(sampled["best"]),
        str(sampled["mcts"]),
    ]
    result = start("sft", argv)
    assert len(result["trainer"].train_dataset) == len(best) + len(answered)
    assert [r["step"] for r in result["log_history"] if "loss" in r] == [1, 2]


def test_dpo_trains_on_best_versus_worst(sampled: dict[str, Path], tiny_chat, tmp_path: Path) -> None:
    model, _ = tiny_chat
    pairs = [r for r in rows(sampled["best"]) if "rejected_response" in r]
    assert pairs and all(len(r["messages"][-1]["content"]) > len(r["rejected_response"]) for r in pairs)
    result = start("rlhf", [
        "--rlhf_type", "dpo", "--model", str(model), "--dataset", str(sampled["best"]),
        "--output_dir", str(tmp_path / "dpo"), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--gradient_checkpointing", "false", "--logging_steps", "1",
        "--per_device_train_batch_size", "2", "--max_steps", "2", "--save_steps", "2", "--tuner", "lora",
    ])  # fmt: skip
    trained = result["trainer"].train_dataset
    assert len(trained) == len(pairs)  # rows without a worse completion are SFT rows only, dropped by dpo
    assert [r["step"] for r in result["log_history"] if "rewards/margins" in r] == [1, 2]
