"""GRPO through `tk run rlhf --rlhf_type grpo` on a tiny model: per-function rewards,
completions.jsonl, a reward from an --external_plugins file, full tuning, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import ArgumentError, PluginHost, checkpoint_description, start
from tunekite.testing import save_tiny_chat_model

EXTERNAL_REWARD = """
from dataclasses import dataclass
from tunekite.api import RewardSpec, arg, hookimpl

@dataclass(kw_only=True)
class ShortArguments:
    short_max_chars: int = arg(6, help="completions longer than this score 0")

def build(args):
    def short(completions, solution=None, **columns):
        assert solution is not None, "extra columns reach external rewards too"
        return [float(len(c) <= args.short_max_chars) for c in completions]
    return short

@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="short", summary="1 for short completions", args=ShortArguments, factory=build))
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": f"{i}+{i}?"}], "solution": str(2 * i)} for i in range(16)
    ]
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def grpo(model_dir: Path, data: Path, out: Path, *extra: str, host: PluginHost | None = None) -> dict:
    argv = [
        "--rlhf_type", "grpo",
        "--model", str(model_dir),
        "--template", "chatml",
        "--dataset", str(data),
        "--output_dir", str(out),
        "--add_version", "false",
        "--report_to", "none",
        "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false",
        "--logging_steps", "1",
        "--save_steps", "2",
        "--per_device_train_batch_size", "4",
        "--num_generations", "2",
        "--max_completion_length", "8",
        "--max_steps", "2",
        "--learning_rate", "1e-3",
        *extra,
    ]  # fmt: skip
    return start("rlhf", argv, host)


def logs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]


def test_lora_grpo_logs_rewards_per_function_writes_completions_and_resumes(model_dir, prompts, tmp_path):
    out = tmp_path / "run"
    result = grpo(
        model_dir, prompts, out,
        "--tuner", "lora",
        "--reward_funcs", "accuracy", "format", "repetition",
        "--reward_weights", "1", "0.5", "0.5",
        "--log_completions", "true",
    )  # fmt: skip
    steps = [r for r in logs(out) if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for name in ("accuracy", "format", "repetition"):
        assert all(f"rewards/{name}/mean" in r for r in steps), steps[0].keys()
    assert all("reward" in r and "kl" in r for r in steps)  # beta 0.04: a KL term against the base

    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert len(completions) == 2 * 4  # two steps of 4 completions (2 prompts x 2 generations)
    assert {r["step"] for r in completions} == {1, 2}
    first = completions[0]
    assert first["prompt"].startswith("<|im_start|>user\n")
    assert first["prompt"].endswith("<|im_start|>assistant\n")
    assert set(first["rewards"]) == {"accuracy", "format", "repetition"}

    checkpoint = out / "checkpoint-2"
    assert checkpoint == result["last_checkpoint"]
    assert (checkpoint / "adapter_model.safetensors").exists()
    assert json.loads((checkpoint / "args.json").read_text())["rlhf_type"] == "grpo"
    described = checkpoint_description(checkpoint)
    assert described["rewards"] == ["accuracy", "format", "repetition"]

    resumed = grpo(
        model_dir, prompts, out,
        "--tuner", "lora",
        "--reward_funcs", "accuracy", "format", "repetition",
        "--reward_weights", "1", "0.5", "0.5",
        "--max_steps", "3",
        "--resume_from_checkpoint", str(checkpoint),
    )  # fmt: skip
    assert resumed["last_checkpoint"] == out / "checkpoint-3"
    assert [r["step"] for r in logs(out) if "loss" in r] == [1, 2, 3]


def test_reward_from_an_external_plugin_file_with_full_tuning(model_dir, prompts, tmp_path):
    plugin = tmp_path / "my_reward.py"
    plugin.write_text(EXTERNAL_REWARD, encoding="utf-8")
    out = tmp_path / "run"
    grpo(
        model_dir, prompts, out,
        "--tuner", "full",
        "--external_plugins", str(plugin),
        "--reward_funcs", "short", "accuracy",
        "--short_max_chars", "4",
        "--max_steps", "1",
        host=PluginHost(),
    )  # fmt: skip
    (step,) = [r for r in logs(out) if "loss" in r]
    assert "rewards/short/mean" in step and "rewards/accuracy/mean" in step
    assert (out / "checkpoint-1" / "model.safetensors").exists()
    assert not (out / "completions.jsonl").exists()  # --log_completions defaults to false


def test_reward_model_goes_last_and_length_rewards_get_the_token_ids(model_dir, prompts, tmp_path):
    """The reward-model reward scores with a tiny sequence-classification model; cosine and
    soft_overlong see completion_ids and default their lengths to max_completion_length."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    scorer = tmp_path / "scorer"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1).save_pretrained(scorer)
    tokenizer.save_pretrained(scorer)
    out = tmp_path / "run"
    grpo(
        model_dir, prompts, out,
        "--tuner", "lora",
        "--reward_funcs", "reward_model", "cosine", "soft_overlong",
        "--reward_model", str(scorer),
        "--soft_cache_length", "4",
        "--max_steps", "1",
        "--log_completions", "true",
    )  # fmt: skip
    (step,) = [r for r in logs(out) if "loss" in r]
    for name in ("cosine", "soft_overlong", "reward_model"):
        assert f"rewards/{name}/mean" in step
    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert list(completions[0]["rewards"]) == ["cosine", "soft_overlong", "reward_model"]
    for record in completions:
        assert -0.5 <= record["rewards"]["cosine"] <= 1.0
        assert -1.0 <= record["rewards"]["soft_overlong"] <= 0.0
    assert checkpoint_description(out / "checkpoint-1")["rewards"][-1] == "reward_model"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--reward_funcs", "format", "--async_generate", "true"], "async_generate"),
        (["--reward_funcs", "format", "--reward_weights", "1", "2"], "reward_weights"),
        (["--reward_funcs", "format", "--num_generations", "3"], "multiple of --num_generations"),
        ([], "--reward_funcs"),
        (["--reward_funcs", "no_such_reward"], "no_such_reward"),
    ],
)
def test_bad_arguments_are_clear_errors(model_dir, prompts, tmp_path, extra, message):
    with pytest.raises(ArgumentError, match=message):
        grpo(model_dir, prompts, tmp_path / "run", "--tuner", "lora", *extra)


def test_use_vllm_without_vllm_names_what_to_install(model_dir, prompts, tmp_path):
    """Here (no vLLM) the vllm engine plugin is either not installed or cannot start; both
    errors name it. With fakes and with vLLM: test_grpo_rollout.py, tests/test_grpo_vllm.py."""
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vLLM is installed here")
    out = tmp_path / "run"
    with pytest.raises(ArgumentError, match="tunekite-vllm"):
        grpo(model_dir, prompts, out, "--reward_funcs", "format", "--tuner", "lora", "--use_vllm", "true")
    assert not list(out.glob(".rollout-adapters-*"))
