"""Reward modelling (`--rlhf_type rm`), top to bottom: a sequence-classification model with
one output, the template, chosen/rejected conversations, the tuner, TRL's RewardTrainer.

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

    from tunekite.api import build_template, load_model, training_config, write_manifest
    from tunekite_rlhf import data
    from tunekite_rlhf import trainer as outputs

    check_arguments(run)
    set_seed(run.seed)
    write_manifest(run, run.output_dir, rlhf_type=run.rlhf_type)

    # 1. The model with a one-score head, and its tokenizer (batched scoring pads).
    model, tokenizer = load_model(run)
    dtype = next(model.parameters()).dtype
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id

    # 2. The template renders each conversation.
    template = build_template(tokenizer, run.groups["template"], run.model, run.model_type)

    # 3. The pairs, as whole conversations' ids.
    train_set, val_set = data.load_rows(run, template)
    train_set = data.tokenize_full(train_set, tokenizer)
    val_set = None if val_set is None else data.tokenize_full(val_set, tokenizer)

    # 4. The tuner; LoRA (peft's SEQ_CLS task) also trains and saves the new score head.
    tuner = run.component("tuners")
    try:
        model = tuner.load()(model, run.component_args(tuner), run.groups["tuner"])
    except AttributeError as exc:  # e.g. peft's causal-LM wrapper around a classification model
        raise ArgumentError(
            f"--rlhf_type rm: the {tuner.name!r} tuner cannot adapt a sequence-classification model ({exc}); "
            "it must support --task_type seq_cls (peft's SEQ_CLS task type). Use --tuner full meanwhile"
        ) from exc
    if run.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()

    # 5. TRL's RewardTrainer with our outputs and atomic checkpoints.
    own: dict[str, Any] = {"center_rewards_coefficient": run.center_rewards_coefficient}
    config = training_config(
        RewardConfig, run, run.output_dir, has_eval=val_set is not None, model_dtype=dtype, **own
    )
    trainer = outputs.tunekite_trainer(RewardTrainer)(
        model=model,
        args=config,
        train_dataset=train_set,
        eval_dataset=val_set,
        processing_class=tokenizer,
        callbacks=outputs.callbacks(run),
        describe_checkpoint=outputs.describer(run, template.name, dtype),
    )

    # 6. Train (resuming when asked); the last checkpoint.
    return outputs.train(trainer, run)


def check_arguments(run: Any) -> None:
    if run.task_type != "seq_cls" or run.num_labels != 1:
        raise ArgumentError(
            "--rlhf_type rm trains a reward model: pass --task_type seq_cls --num_labels 1 "
            f"(got --task_type {run.task_type} --num_labels {run.num_labels})"
        )
