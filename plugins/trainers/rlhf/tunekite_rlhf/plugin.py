"""Registers the alignment trainers and the `rlhf` alias. Light: TRL, torch and
transformers load only when a run starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunekite.api import TrainerSpec, hookimpl
from tunekite_rlhf.args import (
    CpoArguments,
    DpoArguments,
    KtoArguments,
    OrpoArguments,
    RewardModelArguments,
    RlhfTypeArguments,
    SimpoArguments,
)
from tunekite_rlhf.grpo_args import GrpoArguments
from tunekite_rlhf.ppo_args import PpoArguments

GROUPS = ("model", "data", "template", "quantization", "tuner", "training", "evaluation")
DEFAULTS = (("loss_scale", "last_round"),)  # ms-swift trains only the final reply in RLHF
OWN_DEFAULTS = {"ppo": (("split_dataset_ratio", 0.0),)}  # PPO does not evaluate
REJECTS = tuple(
    (name, "sft and pt generate at evaluation; the alignment trainers report their own eval metrics")
    for name in ("predict_with_generate", "metric")
) + tuple(
    (name, "sft and pt score --eval_dataset while training; score an alignment checkpoint with tk run eval")
    for name in ("eval_dataset", "eval_limit", "eval_dataset_args", "eval_generation_config")
)

TRAINERS: tuple[tuple[str, str, type, str], ...] = (
    ("dpo", "Direct Preference Optimization on chosen/rejected pairs (TRL)", DpoArguments, "preference"),
    ("orpo", "Odds Ratio Preference Optimization, reference-free (TRL)", OrpoArguments, "preference"),
    ("simpo", "Simple Preference Optimization: length-normalised, reference-free (TRL)", SimpoArguments,
     "preference"),
    ("cpo", "Contrastive Preference Optimization, reference-free (TRL)", CpoArguments, "preference"),
    ("kto", "Kahneman-Tversky Optimization on replies labelled good or bad (TRL)", KtoArguments,
     "preference"),
    ("rm", "Reward model: a one-score head trained on chosen/rejected pairs (TRL)", RewardModelArguments,
     "reward_model"),
    ("ppo", "Proximal Policy Optimization with a value head, scored by rewards", PpoArguments, "ppo"),
    ("grpo", "Group Relative Policy Optimization, scored by rewards (TRL)", GrpoArguments, "grpo"),
)  # fmt: skip


@hookimpl
def tk_register_trainers(register: Callable[[TrainerSpec], None]) -> None:
    for name, summary, args, module in TRAINERS:
        register(
            TrainerSpec(
                name=name,
                summary=summary,
                groups=GROUPS,
                args=args,
                defaults=DEFAULTS + OWN_DEFAULTS.get(name, ()),
                rejects=REJECTS,
                factory=f"tunekite_rlhf.{module}:train",
            )
        )
    register(
        TrainerSpec(
            name="rlhf",
            summary="ms-swift's spelling: tk run rlhf --rlhf_type dpo|orpo|simpo|kto|cpo|rm|ppo|grpo",
            args=RlhfTypeArguments,
            dispatch="rlhf_type",
            factory="tunekite_rlhf.plugin:run_chosen",
        )
    )


def run_chosen(run: Any) -> Any:
    """The `rlhf` alias started directly: the trainer `--rlhf_type` names. (`tk run rlhf`
    resolves to that trainer before parsing, so this runs only for a hand-built run.)"""
    return run.plugin_host.registry("trainers").get(run.rlhf_type).load()(run)


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("torch", "transformers", "datasets", "peft", "trl")
"""What the trainers import (`tunekite[train]` and trl); `tk plugins` says so when absent."""
