"""Each alignment trainer's own arguments, with ms-swift 3.x names and defaults (`### RLHF参数`
of the reference), one dataclass per trainer built from the families they share:

- `ReferenceArguments`: the frozen reference model of dpo, kto and ppo;
- `RewardArguments` (`rewards.py` reads them): the rewards ppo and grpo score with;
- each algorithm's coefficients. `beta` defaults per algorithm as the reference's shared
  `--beta` does (simpo 2.0, grpo 0.04, others 0.1).

PPO's and GRPO's own groups are in `ppo_args.py` and `grpo_args.py`. The loss variant is
core's `--loss_type` (training group): None takes the algorithm's default (dpo `sigmoid`,
kto `kto`, cpo `sigmoid`, simpo `simpo`). `RlhfTypeArguments` is the `rlhf` alias's:
`tk run rlhf --rlhf_type dpo` is `tk run dpo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from tunekite.api import arg

RLHF_TYPES = ("dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo", "grpo")


@dataclass(kw_only=True)
class RlhfTypeArguments:
    """ms-swift's spelling of the alignment trainers: `tk run rlhf --rlhf_type NAME`."""

    rlhf_type: Literal["dpo", "orpo", "simpo", "kto", "cpo", "rm", "ppo", "grpo"] = arg(
        "dpo", help="the alignment trainer to run: dpo, orpo, simpo, kto, cpo, rm, ppo or grpo"
    )


@dataclass(kw_only=True)
class ReferenceArguments:
    """The frozen reference model: with an adapter tuner the base with its adapters off."""

    ref_model: str | None = arg(
        None, help="reference model with full tuning; default a frozen copy of --model"
    )
    ref_model_type: str | None = arg(None, help="model_type of --ref_model (as --model_type)")
    ref_model_revision: str | None = arg(None, help="revision of --ref_model (as --model_revision)")


@dataclass(kw_only=True)
class DpoArguments(ReferenceArguments):
    """Direct Preference Optimization (TRL's DPOTrainer)."""

    beta: float = arg(0.1, help="KL coefficient (inverse temperature) of the DPO loss")
    label_smoothing: float = arg(0.0, help="label smoothing (conservative DPO); 0 disables")
    rpo_alpha: float | None = arg(
        1.0, help="weight of the chosen replies' NLL (SFT) loss added to DPO's (RPO); 0 or None disables"
    )


@dataclass(kw_only=True)
class KtoArguments(ReferenceArguments):
    """Kahneman-Tversky Optimization on replies labelled desirable or not (TRL's KTOTrainer)."""

    beta: float = arg(0.1, help="KL coefficient of the KTO loss")
    desirable_weight: float = arg(1.0, help="loss weight of desirable replies (lambda_D)")
    undesirable_weight: float = arg(1.0, help="loss weight of undesirable replies (lambda_U)")


@dataclass(kw_only=True)
class CpoArguments:
    """Contrastive Preference Optimization, reference-free (TRL's CPOTrainer)."""

    beta: float = arg(0.1, help="coefficient of the preference loss")
    label_smoothing: float = arg(0.0, help="label smoothing; 0 disables")
    cpo_alpha: float = arg(1.0, help="weight of the chosen replies' NLL loss")


@dataclass(kw_only=True)
class SimpoArguments(CpoArguments):
    """Simple Preference Optimization: CPO with a length-normalised reward and a margin."""

    beta: float = arg(2.0, help="reward scale of the SimPO loss")
    simpo_gamma: float = arg(1.0, help="target reward margin (the paper suggests 0.5-1.5)")


@dataclass(kw_only=True)
class OrpoArguments:
    """Odds Ratio Preference Optimization, reference-free (TRL's ORPOTrainer)."""

    beta: float = arg(0.1, help="weight of the odds-ratio loss (ORPO's lambda)")


@dataclass(kw_only=True)
class RewardModelArguments:
    """Reward modelling on chosen/rejected pairs (TRL's RewardTrainer)."""

    center_rewards_coefficient: float | None = arg(
        None, help="weight of the penalty that keeps rewards centred on 0 (TRL); None disables"
    )


@dataclass(kw_only=True)
class RewardArguments:
    """The rewards completions are scored with: registered functions and a reward model
    (`#### Reward模型参数`), the model appended last."""

    reward_funcs: list[str] = arg(
        default_factory=list,
        selects="rewards",
        help="reward functions by registered name (tk list rewards), e.g. accuracy format",
    )
    reward_weights: list[float] | None = arg(
        None, help="one weight per reward function (reward_model last); default 1.0 each"
    )
    reward_model: str | None = arg(
        None, help="folder of a sequence-classification reward model (e.g. an rm run's checkpoint)"
    )
    reward_adapters: list[str] = arg(default_factory=list, help="adapters applied to --reward_model")
    reward_model_type: str | None = arg(
        None,
        help="model_type of --reward_model (as --model_type)",
        unsupported="not built yet: the reward_model reward loads --reward_model as a local folder",
    )
    reward_model_revision: str | None = arg(
        None,
        help="revision of --reward_model (as --model_revision)",
        unsupported="not built yet: the reward_model reward loads --reward_model as a local folder",
    )
