"""Registers the `sample` task with ms-swift 3.x's sampling and MCTS arguments. Light to
import: `tk --help` reads it; the engine and the rewards load in `tunekite_sample.task:run`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import TaskSpec, arg, hookimpl

REWARD_MODEL = "reward_model"
"""The reward a checkpoint path given to --prm_model / --orm_model selects (tunekite-reward-model)."""


@dataclass(kw_only=True)
class SampleArguments:
    """`tk run sample` (ms-swift's `swift sample`): which sampler, engine, rewards and output."""

    sampler_type: Literal["sample", "mcts"] = arg(
        "sample", help="sample: best-of-N completions per prompt; mcts: a Monte Carlo tree search over steps"
    )
    sampler_engine: str = arg(
        "pt",
        aliases=("infer_backend",),
        selects="engines",
        selects_nothing=("no", "client"),
        help=(
            "engine that generates: pt or a plugin's (vllm); client: the OpenAI-compatible server at "
            "--base_url; no: only score --cache_files, load no model"
        ),
    )
    max_batch_size: int = arg(
        16, help="completions the pt engine generates together (client: requests in flight at a time)"
    )
    orm_model: str | None = arg(
        None,
        selects="rewards",
        selects_path=REWARD_MODEL,
        help="outcome reward: a registered reward (tk list rewards, e.g. accuracy) or a reward-model folder",
    )
    prm_model: str | None = arg(
        None,
        selects="rewards",
        selects_path=REWARD_MODEL,
        help="process reward: a registered (PRM) reward, or a reward-model folder; its weakest step counts",
    )
    prm_threshold: float = arg(0.0, help="keep only completions whose process reward is above this")
    easy_query_threshold: float | None = arg(
        None, help="drop a prompt when more than this share of its completions are correct (outcome > 0)"
    )
    num_return_sequences: int = arg(64, help="completions sampled per prompt (mcts: children per expansion)")
    n_best_to_keep: int = arg(5, help="best completions kept per prompt, each one output row")
    num_sampling_per_gpu_batch_size: int = arg(1, help="prompts sampled together in one batch")
    num_sampling_per_gpu_batches: int | None = arg(None, help="stop after this many batches; None: all")
    data_range: list[int] = arg(
        default_factory=list,
        help="I N: sample only shard I (from 0) of N equal shards, for N parallel samplers",
    )
    cache_files: list[str] = arg(
        default_factory=list,
        help="jsonl files of an earlier run without rewards: their completions are scored, not regenerated",
    )
    output_file: str | None = arg(None, help="output file name (.jsonl, no folder); None: <timestamp>.jsonl")
    override_exist_file: bool = arg(False, help="replace an existing output file instead of stopping")
    resume: bool = arg(False, help="continue an interrupted run: take its finished batches, sample the rest")
    engine_kwargs: dict | None = arg(
        None,
        help="extra engine settings as JSON",
        unsupported="set the engine's own arguments instead: tk run sample --sampler_engine vllm --help",
    )
    # MCTS
    rollout_depth: int = arg(5, help="mcts: the most steps a greedy rollout continues for")
    rollout_start_depth: int = arg(
        3, help="mcts: nodes shallower than this are only expanded, not rolled out"
    )
    max_iterations: int = arg(
        100, help="mcts: the most select-expand-rollout-backpropagate rounds per prompt"
    )
    process_reward_rate: float = arg(
        0.0, help="mcts: share of the process reward in a node's value (0: outcome only)"
    )
    exploration_rate: float = arg(0.5, help="mcts: UCT exploration weight; larger visits rarer nodes more")
    api_key: str | None = arg(None, secret=True, help="client: the API key of --base_url")
    base_url: str | None = arg(
        None, help="client: the OpenAI-compatible server to sample from (http://127.0.0.1:8000/v1)"
    )


@hookimpl
def tk_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(
        TaskSpec(
            name="sample",
            summary="Sample completions (best-of-N or MCTS), score them with rewards, keep the best as data",
            groups=("model", "data", "template", "generation", "quantization", "adapters"),
            args=SampleArguments,
            factory="tunekite_sample.task:run",
            defaults=(("split_dataset_ratio", 0.0), ("temperature", 1.0), ("output_dir", "sample_output")),
            rejects=(
                ("val_dataset", "sampling reads --dataset only; give every prompt file there"),
                ("stream", "sampling writes a jsonl file; nothing is streamed"),
                ("logprobs", "the output rows hold no log probabilities"),
                ("top_logprobs", "the output rows hold no log probabilities"),
            ),
        )
    )
