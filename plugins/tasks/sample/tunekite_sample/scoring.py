"""Scoring completions with reward plugins, and choosing the ones to keep.

`--orm_model` and `--prm_model` name rewards registered by any plugin (`tk list rewards`),
looked up in the run's plugin registry; a folder given instead selects the `reward_model`
reward with that folder as its model. An outcome reward gives one float per completion;
a process reward (`RewardSpec(process=True)`) gives per-step scores, of which the weakest
counts (ms-swift's `min`), and an outcome-shaped reward used as `--prm_model` counts as a
single step. The choice follows ms-swift's `VanillaSampler`: a completion is kept when its
outcome reward is above 0 and its process reward above `--prm_threshold`; completions rank
by `normalized process + 10 × normalized outcome` (min-max within the prompt's group); the
`--n_best_to_keep` best kept ones become rows, each paired with the group's worst as its
`rejected_response` when that one scored lower.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, TunekiteError
from tunekite_sample.plugin import REWARD_MODEL

Reward = Callable[..., list[Any]]


@dataclass(frozen=True)
class Judge:
    """The outcome reward and the process reward of a run (either may be None)."""

    orm: Reward | None = None
    prm: Reward | None = None
    orm_name: str = ""
    prm_name: str = ""

    def outcome(self, completions: Sequence[str], columns: dict[str, Any], prompt: str) -> list[float] | None:
        """One outcome score per completion, None without `--orm_model`."""
        return None if self.orm is None else _scores(self.orm, self.orm_name, completions, columns, prompt)

    def process(self, completions: Sequence[str], columns: dict[str, Any], prompt: str) -> list[float] | None:
        """The weakest step's score per completion, None without `--prm_model`."""
        return None if self.prm is None else _scores(self.prm, self.prm_name, completions, columns, prompt)


def build_judge(run: Any) -> Judge:
    """The run's `--orm_model` and `--prm_model` rewards, built through their factories."""
    orm = _reward(run, run.orm_model, "orm_model")
    prm = _reward(run, run.prm_model, "prm_model")
    return Judge(orm=orm, prm=prm, orm_name=run.orm_model or "", prm_name=run.prm_model or "")


def _reward(run: Any, value: str | None, option: str) -> Reward | None:
    if value is None:
        return None
    registry = run.plugin_host.registry("rewards")
    if value in registry:
        spec = registry.get(value)
        return spec.load()(run.component_args(spec))
    spec = registry.get(REWARD_MODEL)  # a folder: the launcher selected the reward-model reward
    args = run.component_args(spec)
    if args is None or "reward_model_path" not in args.__dataclass_fields__:
        raise ArgumentError(
            f"--{option} {value}: the installed {REWARD_MODEL} reward takes no reward_model_path"
        )
    return spec.load()(dataclasses.replace(args, reward_model_path=str(Path(value))))


def _scores(
    reward: Reward, name: str, completions: Sequence[str], columns: dict[str, Any], prompt: str
) -> list[float]:
    """The reward called as GRPO calls it: the completions, each column repeated once per
    completion, and `prompts` (the rendered prompt). Per-step lists count by their minimum."""
    n = len(completions)
    repeated = {key: [value] * n for key, value in columns.items()}
    values = reward(list(completions), prompts=[prompt] * n, **repeated)
    if len(values) != n:
        raise TunekiteError(f"reward {name!r} gave {len(values)} scores for {n} completions")
    scores = []
    for value in values:
        if isinstance(value, (list, tuple)):
            if not value:
                raise TunekiteError(f"reward {name!r} gave an empty list of step scores")
            value = min(value)
        value = float(value)
        if not math.isfinite(value):
            raise TunekiteError(f"reward {name!r} gave a score that is not a finite number: {value}")
        scores.append(value)
    return scores


def normalized(scores: Sequence[float]) -> list[float]:
    """Min-max normalized within the group; a constant group becomes min(1, value), 0 for 0
    (ms-swift's `get_reward`)."""
    low, high = min(scores), max(scores)
    if low == high:
        return [0.0 if low == 0 else min(1.0, low)] * len(scores)
    return [(s - low) / (high - low + 1e-5) for s in scores]


@dataclass(frozen=True)
class Kept:
    """A completion kept for output, with the group's worst when that scored lower."""

    index: int
    rejected: int | None


def choose(
    outcome: Sequence[float] | None,
    process: Sequence[float] | None,
    *,
    n_best: int,
    prm_threshold: float,
    easy_query_threshold: float | None = None,
) -> list[Kept]:
    """Which of a prompt's completions to keep (best first); [] drops the prompt: none
    passed, or it is too easy (more than `easy_query_threshold` of them correct)."""
    n = len(outcome if outcome is not None else process or [])
    if n == 0:
        return []
    passed = [
        (outcome is None or outcome[i] > 0) and (process is None or process[i] > prm_threshold)
        for i in range(n)
    ]
    too_easy = easy_query_threshold is not None and outcome is not None
    if too_easy and sum(o > 0 for o in outcome) > easy_query_threshold * n:
        return []
    zeros = [0.0] * n
    score = [
        p + 10 * o
        for p, o in zip(
            normalized(process) if process is not None else zeros,
            normalized(outcome) if outcome is not None else zeros,
            strict=True,
        )
    ]
    order = sorted(range(n), key=lambda i: -score[i])  # stable: the earlier of equals first
    worst = order[-1]
    return [Kept(i, worst if score[worst] < score[i] else None) for i in order[:n_best] if passed[i]]
