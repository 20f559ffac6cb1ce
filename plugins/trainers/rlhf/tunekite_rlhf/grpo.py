"""GRPO, top to bottom: model, template, prompts, tuner, rewards, TRL's GRPOTrainer, outputs.

Prompts are rendered with the run's template (`generation=True`) and handed to TRL as
plain text; a row's other columns (e.g. `solution`) reach every reward function as
keyword arguments, as TRL passes them. Each reward is a registered `RewardSpec`
(`--reward_funcs`), named by its registered name, so TRL logs `rewards/<name>/mean`.
With `--use_vllm true` the completions come from the vllm engine plugin through TRL's
`rollout_func` (see `tunekite_rlhf.rollout`); TRL's own vLLM integration is not used.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError
from tunekite_rlhf import rollout as engine_rollout
from tunekite_rlhf.rewards import build_rewards

COMPLETIONS_FILE = "completions.jsonl"
TABLE_TRACKERS = ("wandb", "trackio")  # trackers TRL sends the completions table to
TRL_LOSS_TYPES = ("grpo", "bnpo", "dr_grpo", "dapo", "cispo", "sapo", "vespo")


def train(run: Any) -> dict[str, Any]:
    from transformers import set_seed
    from trl import GRPOConfig, GRPOTrainer

    from tunekite.api import (
        apply_tuner,
        checkpoint_describer,
        load_policy,
        prompt_datasets,
        standard_callbacks,
        train_and_finish,
        training_config,
        write_manifest,
    )
    from tunekite_rlhf.preference import tunekite_trainer

    check_arguments(run)
    set_seed(run.seed)
    write_manifest(run, run.output_dir, trainer=run.spec.name)

    # 1. The policy, its tokenizer (left padding: completions are generated after prompts)
    #    and the template that renders each prompt, ending with the reply header.
    policy = load_policy(run, padding_side="left")

    # 2. The prompts: rendered text plus the rows' extra columns for the rewards.
    train_set, val_set = prompt_datasets(run, policy.template, trainer="grpo")

    # 3. The tuner. With LoRA the reference model is the base with adapters disabled
    #    (TRL does that for a PeftModel); with full tuning TRL loads a frozen copy.
    model = apply_tuner(run, policy)

    # 4. The reward functions, in --reward_funcs order, reward_model last.
    rewards = reward_functions(run)
    names = [fn.__name__ for fn in rewards]

    # 5. TRL's trainer with our outputs: logging.jsonl, self-describing atomic checkpoints,
    #    completions.jsonl; with --use_vllm, completions from the vllm engine plugin.
    rollout = engine_rollout.EngineRollout(engine_rollout.sampling(run)) if run.use_vllm else None
    config = training_config(
        GRPOConfig,
        run,
        run.output_dir,
        has_eval=val_set is not None,
        model_dtype=policy.dtype,
        **grpo_values(run),
    )
    trainer = tunekite_trainer(_grpo_trainer(GRPOTrainer))(
        model=model,
        reward_funcs=rewards,
        args=config,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=policy.tokenizer,
        callbacks=standard_callbacks(run),
        describe_checkpoint=checkpoint_describer(run, policy.template.name, policy.dtype, rewards=names),
        rollout_func=rollout,
    )
    trainer.max_prompt_length = run.max_length
    trainer.completions_path = run.output_dir / COMPLETIONS_FILE if jsonl_completions(run) else None

    # 6. Train (resuming when asked), then the loss curve, links and summary. With
    #    --use_vllm the engine starts first, serving the policy's adapter, and stops when
    #    training ends, however it ends.
    try:
        if rollout is not None:
            rollout.start(run, model, policy.tokenizer, policy.template)
        return train_and_finish(trainer, run)
    finally:
        if rollout is not None:
            rollout.close()


def check_arguments(run: Any) -> None:
    """Refuse what this machine or TRL cannot do, before anything loads."""
    if run.async_generate:
        raise ArgumentError(
            "--async_generate true is not supported: TRL's GRPOTrainer generates synchronously, and on a "
            "CPU there is no separate rollout device to overlap with; leave it false"
        )
    if not run.reward_funcs and not run.reward_model:
        raise ArgumentError("GRPO needs at least one reward: --reward_funcs NAME ... (tk list rewards)")
    if run.num_generations < 2:
        raise ArgumentError(f"--num_generations must be at least 2 (got {run.num_generations})")
    batch = run.per_device_train_batch_size * run.gradient_accumulation_steps
    if batch % run.num_generations:
        raise ArgumentError(
            f"--per_device_train_batch_size x --gradient_accumulation_steps ({batch}) counts completions and "
            f"must be a multiple of --num_generations ({run.num_generations})"
        )
    if run.use_vllm:
        engine_rollout.check_arguments(run)


def reward_functions(run: Any) -> list[Callable[..., list[float]]]:
    """TRL's reward functions, named by their registered names (TRL logs
    `rewards/<name>/mean`)."""
    return [_named(name, fn, run.max_completion_length) for name, fn in build_rewards(run)]


def _named(name: str, fn: Callable[..., list[float]], max_completion_length: int) -> Callable[..., Any]:
    """TRL's reward call adapted to ours: completions plus columns (and the prompts, the
    completion token ids and max_completion_length), floats back."""

    def reward(prompts: list[Any], completions: list[Any], **columns: Any) -> list[float]:
        texts = [c if isinstance(c, str) else c[-1]["content"] for c in completions]
        columns.setdefault("max_completion_length", max_completion_length)
        scores = fn(texts, prompts=prompts, **columns)
        return [None if s is None else float(s) for s in scores]

    reward.__name__ = reward.__qualname__ = name
    return reward


def jsonl_completions(run: Any) -> bool:
    """ms-swift: completions go to completions.jsonl unless a tracker takes the table."""
    return bool(run.log_completions) and not any(t in TABLE_TRACKERS for t in run.report_to or [])


def grpo_values(run: Any) -> dict[str, Any]:
    """GRPO's own arguments as TRL's GRPOConfig fields (core's training group is mapped by
    `tunekite.api.training_config`)."""
    trackers = [] if run.report_to in (["none"], []) else list(run.report_to)
    values: dict[str, Any] = {
        "beta": run.beta,
        "num_generations": run.num_generations,
        "max_completion_length": run.max_completion_length,
        "temperature": run.temperature,
        "top_k": run.top_k,
        "top_p": run.top_p,
        "repetition_penalty": run.repetition_penalty,
        "num_iterations": run.num_iterations,
        "epsilon": run.epsilon,
        "epsilon_high": run.epsilon_high,
        "reward_weights": run.reward_weights,
        # TRL's own completion logging only where a tracker takes the table; else completions.jsonl.
        "log_completions": bool(run.log_completions) and any(t in TABLE_TRACKERS for t in trackers),
        # --use_vllm generates through the vllm engine plugin (a rollout_func), never TRL's vLLM.
        "use_vllm": False,
    }
    if run.loss_type in TRL_LOSS_TYPES:
        values["loss_type"] = run.loss_type
    return values


def _grpo_trainer(base: type) -> type:
    """TRL's GRPOTrainer with plain-text prompts tokenized as the template rendered them
    and completions written to completions.jsonl."""

    class TunekiteGRPOTrainer(base):
        max_prompt_length: int | None = None
        completions_path: Path | None = None
        _last_logged: tuple[str, ...] = ()

        def _tokenize_prompts(self, prompts: list) -> Any:
            if not prompts or not isinstance(prompts[0], str):
                return super()._tokenize_prompts(prompts)
            # The template already rendered every special token (BOS included, where it has one).
            ids = self.processing_class(text=prompts, add_special_tokens=False)["input_ids"]
            if self.max_prompt_length:
                ids = [row[-self.max_prompt_length :] for row in ids]  # keep the question's end
            return ids, None, {}

        def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
            super().log(logs, start_time)
            if self.completions_path is not None and self.accelerator.is_main_process:
                self._write_completions()

        def _write_completions(self) -> None:
            completions = tuple(str(c) for c in self._logs["completion"])
            if not completions or completions == self._last_logged:
                return  # nothing new generated since the last log (num_iterations > 1, eval)
            self._last_logged = completions
            prompts = list(self._logs["prompt"])
            rewards = {k: list(v) for k, v in self._logs["rewards"].items()}
            advantages = list(self._logs["advantages"])
            with self.completions_path.open("a", encoding="utf-8") as out:
                for i, completion in enumerate(self._logs["completion"]):
                    record = {
                        "step": self.state.global_step,
                        "prompt": prompts[i],
                        "completion": completion,
                        "rewards": {k: v[i] for k, v in rewards.items()},
                        "advantage": advantages[i],
                    }
                    out.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")

    return TunekiteGRPOTrainer
