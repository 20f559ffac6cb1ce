"""The reward functions of GRPO and PPO, built from registered `RewardSpec`s.

`--reward_funcs` in order, then the `reward_model` reward last, as the reference appends
`--reward_model`: selecting it by name or passing `--reward_model PATH` both add it, its
path and `--reward_adapters` filled from those arguments (the trainer's
`RewardArguments`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tunekite.api import ArgumentError
from tunekite_rlhf.args import RewardArguments

REWARD_MODEL = "reward_model"


def build_rewards(run: Any) -> list[tuple[str, Callable[..., list[float]]]]:
    """`(registered name, function)` per reward, in the order their weights apply."""
    own: RewardArguments = run.component_args(run.spec)
    selected = list(run.components.get("rewards", []))
    specs = [s for s in selected if s.name != REWARD_MODEL]
    arguments = [run.component_args(s) for s in specs]
    chosen = [s for s in selected if s.name == REWARD_MODEL]
    if chosen or own.reward_model:
        spec, spec_args = _reward_model(run, chosen[0] if chosen else None, own)
        specs.append(spec)
        arguments.append(spec_args)
    process = [s.name for s in specs if getattr(s, "process", False)]
    if process:
        raise ArgumentError(
            f"--reward_funcs {' '.join(process)}: a process reward (per-step scores) is for tk run sample "
            f"--prm_model; {run.spec.name} needs rewards that give one score per completion"
        )
    weights = own.reward_weights
    if weights is not None and len(weights) != len(specs):
        names = ", ".join(s.name for s in specs)
        raise ArgumentError(f"--reward_weights has {len(weights)} values for {len(specs)} rewards ({names})")
    return [(s.name, s.load()(a)) for s, a in zip(specs, arguments, strict=True)]


def _reward_model(run: Any, spec: Any, own: RewardArguments) -> tuple[Any, Any]:
    """The `reward_model` reward's spec and arguments, filled from `--reward_model` and
    `--reward_adapters`."""
    if spec is None:
        from tunekite.api import UnknownNameError

        try:
            spec = run.plugin_host.registry("rewards").get(REWARD_MODEL)
        except UnknownNameError as exc:
            raise ArgumentError(f"--reward_model needs the reward_model reward: {exc}") from None
    spec_args = run.component_args(spec) if spec in run.components.get("rewards", []) else spec.default_args()
    fill = {"reward_model_path": own.reward_model, "reward_model_adapters": own.reward_adapters}
    fill = {k: v for k, v in fill.items() if v}
    missing = [k for k in fill if spec_args is None or k not in spec_args.__dataclass_fields__]
    if missing:
        raise ArgumentError(f"the installed reward_model reward takes no {', '.join(missing)}")
    return spec, dataclasses.replace(spec_args, **fill)
