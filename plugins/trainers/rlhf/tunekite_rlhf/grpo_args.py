"""The grpo trainer's arguments, with ms-swift 3.x names and defaults (`#### GRPO参数` of the
reference): its rewards (`RewardArguments`, `--reward_model` appended last) and its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunekite.api import arg
from tunekite_rlhf.args import RewardArguments


@dataclass(kw_only=True)
class GrpoArguments(RewardArguments):
    """Group Relative Policy Optimization: sampling, rewards and the clipped objective."""

    beta: float = arg(0.04, help="KL coefficient against the reference policy; 0 loads no reference")
    num_generations: int = arg(8, help="GRPO's G: completions sampled per prompt")
    max_completion_length: int = arg(512, help="most new tokens per completion")
    log_completions: bool = arg(
        False, help="record prompts, completions and rewards: completions.jsonl unless --report_to wandb"
    )
    temperature: float = arg(0.9, help="sampling temperature of the completions")
    top_k: int = arg(50, help="sampling top_k (0 disables)")
    top_p: float = arg(0.9, help="sampling top_p")
    repetition_penalty: float = arg(1.0, help="sampling repetition penalty")
    num_iterations: int = arg(1, help="optimisation steps per generation batch (GRPO's mu)")
    epsilon: float = arg(0.2, help="clipping range of the policy ratio")
    epsilon_high: float | None = arg(None, help="upper clipping range (DAPO's clip-higher); default epsilon")
    use_vllm: bool = arg(
        False,
        help="generate with the vllm engine plugin (tunekite-vllm; --tuner lora only) instead of "
        "transformers' generate",
    )
    vllm_gpu_memory_utilization: float | None = arg(
        None,
        help="vLLM's share of accelerator memory (use_vllm); None: the vllm engine plugin's default "
        "(0.9 on a GPU, 0.3 on a CPU-only machine)",
    )
    vllm_max_model_len: int | None = arg(None, help="vLLM context length (use_vllm); default from the model")
    async_generate: bool = arg(False, help="asynchronous rollouts; not supported on CPU (an error if set)")
