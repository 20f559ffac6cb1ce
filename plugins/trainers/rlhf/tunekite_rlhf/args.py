"""The rlhf trainer's arguments, with ms-swift 3.x names and defaults (`### RLHF参数` of the
reference): one kw_only dataclass combining each algorithm family's mixin.

- `PreferenceArguments`: which algorithm, the reference model and the preference losses'
  coefficients (dpo, orpo, simpo, kto, cpo; `beta` is shared with GRPO).
- `RewardModelArguments`: the reward model PPO and GRPO score with.
- `PpoArguments` (`ppo_args.py`) and `GrpoArguments` (`grpo_args.py`): their own groups.

The loss variant is core's `--loss_type` (training group): None takes the algorithm's
default (dpo `sigmoid`, kto `kto`, cpo `sigmoid`, simpo `simpo`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from tunekite.api import arg
from tunekite_rlhf.grpo_args import GrpoArguments
from tunekite_rlhf.ppo_args import PpoArguments

RLHF_TYPES = ("dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo", "grpo")
DEFAULT_BETA = {"simpo": 2.0, "grpo": 0.04}
"""`--beta` when not given: these, else 0.1 (the reference's per-algorithm defaults)."""


def default_beta(rlhf_type: str, beta: float | None) -> float:
    """The beta a run uses: `--beta`, else the algorithm's default."""
    return DEFAULT_BETA.get(rlhf_type, 0.1) if beta is None else beta


@dataclass(kw_only=True)
class PreferenceArguments:
    """Which alignment algorithm, its reference model and the preference losses' coefficients."""

    rlhf_type: Literal["dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo", "grpo"] = arg(
        "dpo", help="alignment algorithm: dpo, orpo, simpo, kto, cpo, rm, ppo or grpo"
    )
    ref_model: str | None = arg(
        None, help="reference model for dpo/kto/ppo with full tuning; default a frozen copy of --model"
    )
    ref_model_type: str | None = arg(None, help="model_type of --ref_model (as --model_type)")
    ref_model_revision: str | None = arg(None, help="revision of --ref_model (as --model_revision)")
    beta: float | None = arg(
        None, help="KL coefficient (inverse temperature); default simpo 2.0, grpo 0.04, others 0.1"
    )
    label_smoothing: float = arg(0.0, help="DPO/CPO label smoothing (conservative DPO); 0 disables")
    rpo_alpha: float | None = arg(
        1.0, help="weight of the chosen replies' NLL (SFT) loss added to DPO's (RPO); 0 or None disables"
    )
    cpo_alpha: float = arg(1.0, help="weight of the NLL loss in CPO and SimPO")
    simpo_gamma: float = arg(1.0, help="SimPO's target reward margin (the paper suggests 0.5-1.5)")
    desirable_weight: float = arg(1.0, help="KTO: loss weight of desirable replies (lambda_D)")
    undesirable_weight: float = arg(1.0, help="KTO: loss weight of undesirable replies (lambda_U)")
    center_rewards_coefficient: float | None = arg(
        None, help="rm: weight of the penalty that keeps rewards centred on 0 (TRL); None disables"
    )


@dataclass(kw_only=True)
class RewardModelArguments:
    """The reward model PPO and GRPO score completions with (`#### Reward模型参数`)."""

    reward_model: str | None = arg(
        None, help="ppo/grpo: folder of a sequence-classification reward model (e.g. an rm run's checkpoint)"
    )
    reward_adapters: list[str] = arg(default_factory=list, help="adapters applied to --reward_model")
    reward_model_type: str | None = arg(None, help="model_type of --reward_model (as --model_type)")
    reward_model_revision: str | None = arg(None, help="revision of --reward_model (as --model_revision)")


@dataclass(kw_only=True)
class RlhfArguments(PreferenceArguments, RewardModelArguments, PpoArguments, GrpoArguments):
    """Alignment with HF TRL: the algorithm and every algorithm family's arguments."""


def optional(run: Any, name: str, default: Any = None) -> Any:
    """An argument another group may or may not declare (shared RLHF, reward-model, a tuner's)."""
    try:
        return getattr(run, name)
    except AttributeError:
        return default
