"""A process reward (per-step scores, `RewardSpec(process=True)`) is refused by the trainers
that hand one score per completion to TRL, naming the reward and where it belongs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunekite.api import ArgumentError, PluginHost, resolve
from tunekite_rlhf.rewards import build_rewards

STEPS = '''
from tunekite.api import RewardSpec, hookimpl


@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="line_steps", summary="a score per line", process=True,
                        factory="json:dumps"))
'''


def test_grpo_refuses_a_process_reward(tmp_path: Path) -> None:
    plugin = tmp_path / "steps_reward.py"
    plugin.write_text(STEPS)
    argv = ["--model", str(tmp_path), "--dataset", "d.jsonl", "--custom_register_path", str(plugin),
            "--reward_funcs", "line_steps"]  # fmt: skip
    run, _ = resolve("grpo", argv, PluginHost())
    with pytest.raises(ArgumentError, match=r"line_steps: a process reward .*--prm_model; grpo"):
        build_rewards(run)
