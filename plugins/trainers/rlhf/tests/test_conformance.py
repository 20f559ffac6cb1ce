"""Every alignment trainer passes core's trainer conformance suite: a few steps on the tiny
model, complete checkpoints, resuming into the same folder to the same curve, and the
arguments of the other trainers refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from tunekite.testing import TrainerConformance

PAIRS = [
    {
        "messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "good"}],
        "rejected_response": f"bad {i} bad",
    }
    for i in range(16)
]
PROMPTS = [
    {"messages": [{"role": "user", "content": f"{i}+{i}?"}], "solution": str(2 * i)} for i in range(16)
]
REWARD_PLUGIN = Path(__file__).with_name("conformance_reward.py")
"""Registers the `conformance-length` reward; one file, so every run registers it once."""


class LoraTrainer(TrainerConformance):
    rows: ClassVar[list[dict[str, Any]]] = PAIRS

    def extra_argv(self, folder: Path) -> list[str]:
        return ["--tuner", "lora"]


class TestDpo(LoraTrainer):
    name = "dpo"


class TestOrpo(LoraTrainer):
    name = "orpo"


class TestSimpo(LoraTrainer):
    name = "simpo"


class TestCpo(LoraTrainer):
    name = "cpo"


class TestKto(LoraTrainer):
    name = "kto"
    rows: ClassVar[list[dict[str, Any]]] = [
        {
            "messages": [{"role": "user", "content": f"q {i}"}, {"role": "assistant", "content": f"a {i}"}],
            "label": i % 2 == 0,
        }
        for i in range(16)
    ]


class TestRm(TrainerConformance):
    name = "rm"
    rows: ClassVar[list[dict[str, Any]]] = PAIRS

    def extra_argv(self, folder: Path) -> list[str]:
        return ["--tuner", "full", "--task_type", "seq_cls", "--num_labels", "1"]


class RewardedTrainer(LoraTrainer):
    rows: ClassVar[list[dict[str, Any]]] = PROMPTS

    def extra_argv(self, folder: Path) -> list[str]:
        return [
            "--tuner",
            "lora",
            "--external_plugins",
            str(REWARD_PLUGIN),
            "--reward_funcs",
            "conformance-length",
        ]


class TestPpo(RewardedTrainer):
    name = "ppo"
    loss_key = "loss/value"  # the policy loss of whitened advantages starts near 0 and says little
    checkpoint_files = ("trainer_state.json", "value_head.safetensors", "optimizer.pt")

    def extra_argv(self, folder: Path) -> list[str]:
        return [*super().extra_argv(folder), "--response_length", "6", "--num_ppo_epochs", "1"]


class TestGrpo(RewardedTrainer):
    name = "grpo"
    loss_key = "entropy"  # GRPO's loss is ~1e-6 on a first iteration; the entropy follows the weights

    def extra_argv(self, folder: Path) -> list[str]:
        return [*super().extra_argv(folder), "--num_generations", "2", "--max_completion_length", "6"]
