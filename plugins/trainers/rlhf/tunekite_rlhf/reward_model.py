"""Reward modelling (`tk run rm`), top to bottom: a sequence-classification model with one
output, the template, chosen/rejected conversations, the tuner, TRL's RewardTrainer.

Load the model with `--task_type seq_cls --num_labels 1` (core's loader adds a fresh
`score` head). Each pair is two whole conversations rendered by the run's template, the
reply ending with its end-of-turn token, whose position the model scores; the loss is
`-log sigmoid(r_chosen - r_rejected)`. A checkpoint is a model (or an adapter with the
`score` head saved beside it) that `AutoModelForSequenceClassification` loads, i.e. what
`--reward_model` of ppo and grpo takes.
"""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError


def train(run: Any) -> dict[str, Any]:
    from transformers import set_seed
    from trl import RewardConfig, RewardTrainer

    from tunekite.api import (
        apply_tuner,
        checkpoint_describer,
        load_policy,
        standard_callbacks,
        train_and_finish,
        training_config,
        write_manifest,
    )
    from tunekite_rlhf import data
    from tunekite_rlhf.preference import tunekite_trainer

    check_arguments(run)
    set_seed(run.seed)
    write_manifest(run, run.output_dir, trainer=run.spec.name)

    # 1. The model with a one-score head, its tokenizer (batched scoring pads) and the
    #    template that renders each conversation.
    policy = load_policy(run)
    if policy.model.config.pad_token_id is None:
        policy.model.config.pad_token_id = policy.tokenizer.pad_token_id

    # 2. The pairs, as whole conversations' ids.
    train_set, val_set = data.load_rows(run, policy.template)
    train_set = data.tokenize_full(train_set, policy.tokenizer)
    val_set = None if val_set is None else data.tokenize_full(val_set, policy.tokenizer)

    # 3. The tuner; LoRA (peft's SEQ_CLS task) also trains and saves the new score head.
    try:
        model = apply_tuner(run, policy)
    except AttributeError as exc:  # e.g. peft's causal-LM wrapper around a classification model
        raise ArgumentError(
            f"rm: the {run.component('tuners').name!r} tuner cannot adapt a sequence-classification model "
            f"({exc}); it must support --task_type seq_cls (peft's SEQ_CLS task type). Use --tuner full "
            "meanwhile"
        ) from exc

    # 4. TRL's RewardTrainer with our outputs and atomic checkpoints.
    own = {"center_rewards_coefficient": run.component_args(run.spec).center_rewards_coefficient}
    config = training_config(
        RewardConfig, run, run.output_dir, has_eval=val_set is not None, model_dtype=policy.dtype, **own
    )
    trainer = tunekite_trainer(RewardTrainer)(
        model=model,
        args=config,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=policy.tokenizer,
        callbacks=standard_callbacks(run),
        describe_checkpoint=checkpoint_describer(run, policy.template.name, policy.dtype),
    )

    # 5. Train (resuming when asked), then the loss curve, links and summary.
    return train_and_finish(trainer, run)


def check_arguments(run: Any) -> None:
    if run.task_type != "seq_cls" or run.num_labels != 1:
        raise ArgumentError(
            "rm trains a reward model: pass --task_type seq_cls --num_labels 1 "
            f"(got --task_type {run.task_type} --num_labels {run.num_labels})"
        )
