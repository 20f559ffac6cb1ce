"""The reward functions of GRPO and PPO, built from registered `RewardSpec`s.

`--reward_funcs` in order, then the `reward_model` reward last, as the reference appends
`--reward_model`: selecting it by name or passing `--reward_model PATH` (an RLHF argument)
both add it, its path and `--reward_adapters` filled from those arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from tunekite.api import ArgumentError
from tunekite_rlhf.args import optional

REWARD_MODEL = "reward_model"


def build_rewards(run: Any) -> list[tuple[str, Callable[..., list[float]]]]:
    """`(registered name, function)` per reward, in the order their weights apply."""
    selected = list(run.components.get("rewards", []))
    specs = [s for s in selected if s.name != REWARD_MODEL]
    arguments = [run.component_args(s) for s in specs]
    path = optional(run, "reward_model")
    chosen = [s for s in selected if s.name == REWARD_MODEL]
    if chosen or path:
        spec, spec_args = _reward_model(run, chosen[0] if chosen else None, path)
        specs.append(spec)
        arguments.append(spec_args)
    weights = optional(run, "reward_weights")
    if weights is not None and len(weights) != len(specs):
        names = ", ".join(s.name for s in specs)
        raise ArgumentError(f"--reward_weights has {len(weights)} values for {len(specs)} rewards ({names})")
    return [(s.name, s.load()(a)) for s, a in zip(specs, arguments, strict=True)]


def _reward_model(run: Any, spec: Any, path: str | None) -> tuple[Any, Any]:
    """The `reward_model` reward's spec and arguments, filled from `--reward_model` and
    `--reward_adapters`."""
    if spec is None:
        from tunekite.api import UnknownNameError, registry

        try:
            spec = registry("rewards").get(REWARD_MODEL)
        except UnknownNameError as exc:
            raise ArgumentError(f"--reward_model needs the reward_model reward: {exc}") from None
    spec_args = run.component_args(spec) if spec in run.components.get("rewards", []) else spec.default_args()
    fill = {"reward_model_path": path, "reward_model_adapters": optional(run, "reward_adapters")}
    fill = {k: v for k, v in fill.items() if v}
    missing = [k for k in fill if spec_args is None or k not in spec_args.__dataclass_fields__]
    if missing:
        raise ArgumentError(f"the installed reward_model reward takes no {', '.join(missing)}")
    return spec, dataclasses.replace(spec_args, **fill)
