"""PPO (`tk run rlhf --rlhf_type ppo`): the math against hand-computed values, then runs
on a tiny model: logged KL/clipfrac/value loss, a reward model, a reward that is learned,
LoRA's reference being the adapters-off model, checkpoints and an exact resume."""

from __future__ import annotations

import gc
import json
import math
from pathlib import Path

import pytest
import torch

from tunekite.api import ArgumentError, checkpoint_description, start
from tunekite.testing import save_tiny_chat_model
from tunekite_rlhf import ppo
from tunekite_rlhf.ppo import (
    clipped_policy_loss,
    clipped_value_loss,
    gae,
    kl_penalty,
    response_lengths,
    token_rewards,
    whiten,
)

# A reward from a local plugin file: the share of response tokens with a low id
# (about a quarter of the tiny vocabulary), so a policy can learn to prefer them.
LOW_IDS_REWARD = """
from tunekite.api import RewardSpec, hookimpl

def build(args):
    def low_ids(completions, completion_ids=None, prompts=None, **columns):
        assert prompts and prompts[0].endswith("<|im_start|>assistant\\n"), prompts
        return [sum(t < 100 for t in ids) / max(1, len(ids)) for ids in completion_ids]
    return low_ids

@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="low_ids", summary="share of low-id tokens", factory=build))
"""


# ---------------------------------------------------------------------------- the math


def t(*rows: list[float]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_kl_penalty_is_minus_coef_times_logratio() -> None:
    out = kl_penalty(t([-1.0, -2.0]), t([-1.5, -1.0]), 0.1)
    assert torch.allclose(out, t([-0.05, 0.1]))


def test_token_rewards_add_the_score_at_the_last_real_token() -> None:
    penalty = t([0.1, 0.2, 0.3], [0.0, 0.0, 0.0])
    out = token_rewards(t([1.0, 2.0])[0], penalty, torch.tensor([2, 3]))
    assert torch.allclose(out, t([0.1, 1.2, 0.3], [0.0, 0.0, 2.0]))
    assert torch.equal(penalty, t([0.1, 0.2, 0.3], [0.0, 0.0, 0.0]))  # not modified in place


def test_gae_by_hand() -> None:
    # gamma 0.9, lam 0.5, rewards [1, 0, 2], values [0.5, 1, 1.5]:
    # d2 = 2 - 1.5 = 0.5;   A2 = 0.5
    # d1 = 0 + 0.9*1.5 - 1 = 0.35;  A1 = 0.35 + 0.45*0.5 = 0.575
    # d0 = 1 + 0.9*1 - 0.5 = 1.4;   A0 = 1.4 + 0.45*0.575 = 1.65875
    advantages, returns = gae(t([1.0, 0.0, 2.0]), t([0.5, 1.0, 1.5]), 0.9, 0.5)
    assert torch.allclose(advantages, t([1.65875, 0.575, 0.5]))
    assert torch.allclose(returns, t([2.15875, 1.575, 2.0]))


def test_gae_with_gamma_and_lam_one_is_return_minus_value_and_stops_at_the_mask() -> None:
    rewards, values = t([0.0, 0.0, 1.0, 5.0]), t([0.2, 0.4, 0.6, 9.0])
    mask = torch.tensor([[True, True, True, False]])
    advantages, returns = gae(rewards, values, 1.0, 1.0, mask)
    assert torch.allclose(advantages, t([0.8, 0.6, 0.4, 0.0]))  # 1 - V_t; padding ignored
    assert torch.allclose(returns, t([1.0, 1.0, 1.0, 0.0]))


def test_whiten_over_the_mask() -> None:
    values = t([1.0, 3.0, 100.0])
    mask = torch.tensor([[True, True, False]])
    out = whiten(values, mask, eps=0.0)
    # mean 2, unbiased variance ((1)^2 + (1)^2) / 1 = 2
    assert torch.allclose(out[0, :2], t([-1 / math.sqrt(2), 1 / math.sqrt(2)])[0])
    kept = whiten(values, mask, shift_mean=False, eps=0.0)
    assert torch.allclose(kept[0, :2], t([2 - 1 / math.sqrt(2), 2 + 1 / math.sqrt(2)])[0])


def test_clipped_policy_loss_by_hand() -> None:
    old = t([0.0, 0.0, 0.0])
    new = torch.log(t([1.5, 0.5, 1.1]))  # ratios 1.5, 0.5, 1.1
    advantages = t([1.0, -1.0, 2.0])
    loss, stats = clipped_policy_loss(new, old, advantages, 0.2)
    # token 0: max(-1.5, -1.2) = -1.2 (clipped); token 1: max(0.5, 0.8) = 0.8 (clipped);
    # token 2: max(-2.2, -2.2) = -2.2 (inside the range)
    assert math.isclose(float(loss), (-1.2 + 0.8 - 2.2) / 3)
    assert math.isclose(float(stats["clipfrac"]), 2 / 3)
    assert math.isclose(float(stats["ratio"]), (1.5 + 0.5 + 1.1) / 3)
    logs = [math.log(1.5), math.log(0.5), math.log(1.1)]
    assert math.isclose(float(stats["approxkl"]), 0.5 * sum(x * x for x in logs) / 3)
    masked, _ = clipped_policy_loss(new, old, advantages, 0.2, torch.tensor([[True, True, False]]))
    assert math.isclose(float(masked), (-1.2 + 0.8) / 2)


def test_clipped_value_loss_by_hand() -> None:
    old, returns = t([0.0, 0.0]), t([1.0, 1.0])
    values = t([0.5, -0.5])
    loss, clipfrac = clipped_value_loss(values, old, returns, 0.2)
    # token 0: max(0.25, (0.2 - 1)^2 = 0.64) = 0.64; token 1: max(2.25, (-0.2 - 1)^2 = 1.44) = 2.25
    assert math.isclose(float(loss), 0.5 * (0.64 + 2.25) / 2)
    assert math.isclose(float(clipfrac), 0.5)


def test_response_lengths_include_the_first_eos() -> None:
    responses = torch.tensor([[5, 7, 2, 2], [5, 6, 7, 8], [2, 9, 9, 9]])
    lengths, has_eos = response_lengths(responses, [2])
    assert lengths.tolist() == [3, 4, 1]
    assert has_eos.tolist() == [True, False, True]


# ---------------------------------------------------------------------------- runs


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: one thread avoids oversubscription."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rows = [
        {"messages": [{"role": "user", "content": f"{i}+{i}?"}], "solution": str(2 * i)} for i in range(32)
    ]
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reward_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plugins") / "low_ids_reward.py"
    path.write_text(LOW_IDS_REWARD, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reward_model_dir(tmp_path_factory, model_dir) -> Path:
    """A tiny sequence-classification model with the policy's tokenizer (as `rm` saves one)."""
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    config = LlamaConfig.from_pretrained(model_dir)
    config.num_labels = 1
    config.pad_token_id = tokenizer.pad_token_id
    torch.manual_seed(1)
    folder = tmp_path_factory.mktemp("rm") / "tiny-rm"
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def run_ppo(model_dir: Path, data: Path, out: Path, reward_file: Path, *extra: str) -> dict:
    argv = [
        "--rlhf_type", "ppo",
        "--model", str(model_dir),
        "--template", "chatml",
        "--dataset", str(data),
        "--output_dir", str(out),
        "--add_version", "false",
        "--report_to", "none",
        "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false",
        "--external_plugins", str(reward_file),
        "--per_device_train_batch_size", "4",
        "--response_length", "4",
        "--num_ppo_epochs", "2",
        "--max_steps", "2",
        "--save_steps", "2",
        "--learning_rate", "1e-3",
        *extra,
    ]  # fmt: skip
    return start("rlhf", argv)


def logs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]


def count_models() -> int:
    """Causal LMs alive in this process (the reward model is a sequence classifier)."""
    from transformers import PreTrainedModel

    gc.collect()
    return sum(
        isinstance(o, PreTrainedModel) and type(o).__name__.endswith("ForCausalLM") for o in gc.get_objects()
    )


@pytest.fixture
def model_census(monkeypatch):
    """Records, when the PPO loop starts, its reference and how many models are alive."""
    seen: dict = {}
    original = ppo.PpoLoop.__init__

    def spy(self, run, model, reference, *args, **kwargs):
        seen.update(reference=reference, models=count_models(), before=seen.get("baseline"))
        original(self, run, model, reference, *args, **kwargs)

    monkeypatch.setattr(ppo.PpoLoop, "__init__", spy)
    seen["baseline"] = count_models()
    return seen


def test_ppo_needs_a_reward(model_dir, prompts, reward_file, tmp_path) -> None:
    with pytest.raises(ArgumentError, match="PPO needs a reward"):
        run_ppo(model_dir, prompts, tmp_path / "run", reward_file)


def test_ppo_refuses_several_processes(monkeypatch) -> None:
    from tunekite.api import resolve

    run, _ = resolve("rlhf", ["--rlhf_type", "ppo", "--model", "m", "--reward_funcs", "format"])
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets in each of two ranks
    with pytest.raises(ArgumentError, match="ppo trains in one process"):
        ppo.check_arguments(run)


def test_lora_ppo_logs_its_objective_uses_the_adapters_off_reference_and_a_reward_model(
    model_dir, prompts, reward_file, reward_model_dir, tmp_path, model_census
) -> None:
    out = tmp_path / "run"
    result = run_ppo(
        model_dir, prompts, out, reward_file,
        "--tuner", "lora",
        "--reward_funcs", "low_ids",
        "--reward_model", str(reward_model_dir),
        "--reward_weights", "1", "0.5",
        "--missing_eos_penalty", "1.0",
        "--num_sample_generations", "2",
    )  # fmt: skip
    records = logs(out)
    assert [r["step"] for r in records] == [1, 2]
    for key in (
        "objective/kl", "objective/scores", "policy/approxkl", "policy/clipfrac", "loss/policy",
        "loss/value", "val/ratio", "learning_rate", "rewards/low_ids", "rewards/reward_model",
    ):  # fmt: skip
        assert all(math.isfinite(r[key]) for r in records), key
    assert records[0]["objective/kl"] == pytest.approx(0.0, abs=1e-5)  # adapters start at zero
    assert records[1]["objective/kl"] != 0.0  # the policy moved away from the reference
    assert all(0.5 < r["val/ratio"] < 2.0 for r in records)

    # With LoRA the reference is the same model with its adapters disabled: no second copy.
    assert model_census["reference"] is None
    assert model_census["models"] - model_census["before"] == 1
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {s["step"] for s in samples} == {1, 2} and "completion" in samples[0]

    checkpoint = result["last_checkpoint"]
    assert checkpoint == out / "checkpoint-2"
    saved = ("adapter_model.safetensors", "adapter_config.json", "value_head.safetensors", "optimizer.pt")
    for name in (*saved, "scheduler.pt", "trainer_state.json", "args.json"):
        assert (checkpoint / name).exists(), name
    assert not (out / ".staging").exists()
    assert json.loads((checkpoint / "args.json").read_text())["rlhf_type"] == "ppo"
    described = checkpoint_description(checkpoint)
    assert described["trainer"] == "ppo" and described["tuner"]["name"] == "lora"


def test_full_tuning_keeps_a_frozen_reference_copy(
    model_dir, prompts, reward_file, tmp_path, model_census
) -> None:
    out = tmp_path / "run"
    run_ppo(model_dir, prompts, out, reward_file, "--tuner", "full", "--reward_funcs", "low_ids",
            "--max_steps", "1", "--save_strategy", "no")  # fmt: skip
    reference = model_census["reference"]
    assert reference is not None and not any(p.requires_grad for p in reference.parameters())
    assert model_census["models"] - model_census["before"] == 2
    assert (out / "checkpoint-1" / "model.safetensors").exists()  # the last step is always saved


def test_a_reward_preferring_low_id_tokens_is_learned(model_dir, prompts, reward_file, tmp_path) -> None:
    out = tmp_path / "run"
    run_ppo(
        model_dir, prompts, out, reward_file,
        "--tuner", "full",
        "--reward_funcs", "low_ids",
        "--per_device_train_batch_size", "32",
        "--response_length", "2",
        "--num_ppo_epochs", "4",
        "--learning_rate", "5e-3",
        "--lr_scheduler_type", "constant",
        "--max_steps", "12",
        "--save_strategy", "no",
    )  # fmt: skip
    scores = [r["objective/scores"] for r in logs(out)]
    first, last = sum(scores[:3]) / 3, sum(scores[-3:]) / 3
    assert last > first + 0.08, scores


def test_resume_continues_the_same_curve(model_dir, prompts, reward_file, tmp_path) -> None:
    common = ("--tuner", "lora", "--reward_funcs", "low_ids", "--max_steps", "4", "--learning_rate", "5e-3")
    whole = tmp_path / "whole"
    run_ppo(model_dir, prompts, whole, reward_file, *common)
    resumed = tmp_path / "resumed"
    result = run_ppo(
        model_dir, prompts, resumed, reward_file, *common,
        "--resume_from_checkpoint", str(whole / "checkpoint-2"),
    )  # fmt: skip
    assert result["last_checkpoint"] == resumed / "checkpoint-4"
    assert [r["step"] for r in result["log_history"]] == [1, 2, 3, 4]  # the checkpoint's history plus ours
    again = logs(resumed)
    assert [r["step"] for r in again] == [3, 4]
    expected = {r["step"]: r for r in logs(whole)}
    for record in again:
        for key in ("objective/scores", "objective/kl", "loss/policy", "loss/value", "learning_rate"):
            assert record[key] == pytest.approx(expected[record["step"]][key], rel=1e-4, abs=1e-6), key


def test_ppo_refuses_validation_data_it_would_not_use(model_dir, prompts, reward_file, tmp_path) -> None:
    for extra in (("--val_dataset", str(prompts)), ("--split_dataset_ratio", "0.25")):
        with pytest.raises(ArgumentError, match="PPO does not evaluate during training"):
            run_ppo(model_dir, prompts, tmp_path / "run", reward_file, "--reward_funcs", "low_ids", *extra)


@pytest.mark.parametrize(("optim", "expected"), [("sgd", "SGD"), ("adamw_torch", "AdamW")])
def test_the_optimizer_is_the_one_optim_names(
    model_dir, prompts, reward_file, tmp_path, monkeypatch, optim, expected
) -> None:
    built = []
    original = ppo.PpoLoop.__init__

    def spy(self, run, model, reference, value_head, tokenizer, rewards, optimizer, params):
        built.append((optimizer, list(value_head.parameters())))
        original(self, run, model, reference, value_head, tokenizer, rewards, optimizer, params)

    monkeypatch.setattr(ppo.PpoLoop, "__init__", spy)
    run_ppo(model_dir, prompts, tmp_path / "run", reward_file, "--tuner", "lora", "--reward_funcs", "low_ids",
            "--optim", optim, "--max_steps", "1", "--weight_decay", "0.1")  # fmt: skip
    ((optimizer, head),) = built
    assert type(optimizer).__name__ == expected
    assert optimizer.param_groups[-1]["params"] == head and optimizer.param_groups[-1]["weight_decay"] == 0.0
    first = optimizer.param_groups[0]
    assert first["weight_decay"] == 0.1 and first["initial_lr"] == 1e-3


def test_an_optimizer_that_cannot_be_built_is_a_clear_error(
    model_dir, prompts, reward_file, tmp_path
) -> None:
    with pytest.raises(ArgumentError, match="--optim lomo: PPO builds its optimizer"):
        run_ppo(model_dir, prompts, tmp_path / "run", reward_file, "--tuner", "lora",
                "--reward_funcs", "low_ids", "--optim", "lomo")  # fmt: skip
