"""PPO's own arguments, with ms-swift 3.x names and defaults (`#### PPO参数` of the reference).

With the reference model (`ReferenceArguments`) and the rewards (`RewardArguments`) it
shares with other trainers; `temperature` samples the responses.

Batch sizes follow TRL's PPO: one PPO step samples
`per_device_train_batch_size x gradient_accumulation_steps x num_mini_batches` prompts,
then runs `num_ppo_epochs` passes of `num_mini_batches` optimizer steps over them.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunekite.api import arg
from tunekite_rlhf.args import ReferenceArguments, RewardArguments


@dataclass(kw_only=True)
class PpoArguments(ReferenceArguments, RewardArguments):
    """Proximal Policy Optimization with a value head: rollouts, GAE and the clipped losses."""

    temperature: float = arg(0.9, help="sampling temperature of the responses; 0 samples greedily")
    num_ppo_epochs: int = arg(4, help="passes over each batch of rollouts per PPO step")
    whiten_rewards: bool = arg(False, help="whiten the per-token rewards before computing advantages")
    kl_coef: float = arg(0.05, help="weight of the per-token KL penalty against the reference policy")
    cliprange: float = arg(0.2, help="clipping range of the policy probability ratio")
    vf_coef: float = arg(0.1, help="weight of the value loss in the total loss")
    cliprange_value: float = arg(0.2, help="clipping range of the value prediction around the rollout's")
    gamma: float = arg(1.0, help="discount factor of GAE")
    lam: float = arg(0.95, help="lambda of GAE (bias-variance trade-off of the advantages)")
    num_mini_batches: int = arg(1, help="optimizer steps per pass over a batch of rollouts")
    local_rollout_forward_batch_size: int = arg(
        64, help="sequences per forward pass while generating and scoring rollouts"
    )
    num_sample_generations: int = arg(
        10, help="how many times in a run to record sample completions (samples.jsonl); 0 never"
    )
    response_length: int = arg(512, help="most new tokens per sampled response")
    missing_eos_penalty: float | None = arg(
        None, help="subtracted from the score of a response that ends without EOS; None disables"
    )
