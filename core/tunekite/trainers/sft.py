"""The sft and pt recipe, top to bottom: policy, data, tuner, trainer, train and finish.

`pt` is the same recipe with pre-training defaults (plain text, every token trained),
declared on its `TrainerSpec`.
"""

from __future__ import annotations

from typing import Any


def train(run: Any) -> dict[str, Any]:
    from rich.console import Console
    from transformers import set_seed

    from tunekite.allocator import describe_allocator
    from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
    from tunekite.data.prepare import prepare_datasets
    from tunekite.training.batching import choose_batching
    from tunekite.training.eval_datasets import dataset_evaluation
    from tunekite.training.generated import generation_metrics
    from tunekite.training.hf_args import hf_training_arguments
    from tunekite.training.outputs import (
        checkpoint_describer,
        standard_callbacks,
        train_and_finish,
        write_manifest,
    )
    from tunekite.training.packed_attention import use_packed_attention
    from tunekite.training.policy import apply_tuner, load_policy, tuner_optimizer
    from tunekite.training.precision import describe_precision
    from tunekite.training.trainer import TunekiteTrainer
    from tunekite.training.tuner_batches import TrainingBatches

    set_seed(run.seed)
    write_manifest(run, run.output_dir)
    has_val = run.val_dataset or run.split_dataset_ratio > 0
    evaluation = dataset_evaluation(run, has_val=bool(has_val))  # its errors before the model loads

    # 1. The policy: model, tokenizer, and the template that turns conversations into
    #    ids, labels and loss weights.
    policy = load_policy(run)

    # 2. The data, encoded (and packed) by that template.
    train, val = prepare_datasets(run, policy.template)

    # 3. The tuner adapts the model (LoRA, full, ...); it may bring its own optimizer, and
    #    look at a few training batches first (LoRA-GA).
    model = apply_tuner(run, policy, batches=TrainingBatches.for_tokenizer(train, policy.tokenizer))

    # 4. The trainer: transformers' Trainer with the template's per-token loss weights,
    #    batching as asked or the device's fast path (said at start-up).
    plan = choose_batching(
        run.groups["training"],
        packing=run.packing,
        model=model,
        groupable="length" in (getattr(train, "column_names", None) or ()),
    )
    console = Console(stderr=True, highlight=False)
    console.print(f"[bold]batches[/]: {plan.describe()}")
    if plan.padding_free:  # attention per sample, not over the whole row under a mask
        use_packed_attention()
    collator = (
        PaddingFreeCollator()
        if plan.padding_free
        else PaddedCollator.for_tokenizer(policy.tokenizer, run.padding_side)
    )
    own = {"train_sampling_strategy": "group_by_length"} if plan.group_by_length else {}
    if val is None and evaluation is not None:  # only --eval_dataset scores: no eval_loss to pick by
        own["metric_for_best_model"] = run.metric_for_best_model
    trainer = TunekiteTrainer(
        model=model,
        args=hf_training_arguments(
            run,
            run.output_dir,
            has_eval=val is not None or evaluation is not None,
            model_dtype=policy.dtype,
            **own,
        ),
        train_dataset=train,
        eval_dataset=[] if val is None and evaluation is not None else val,
        data_collator=collator,
        processing_class=policy.tokenizer,
        callbacks=standard_callbacks(run),
        acc_strategy=run.acc_strategy,
        describe_checkpoint=checkpoint_describer(run, policy.template.name, policy.dtype, model=model),
        make_optimizer=tuner_optimizer(run),
        generation_metrics=generation_metrics(run, policy.tokenizer, policy.template),
        dataset_metrics=evaluation.scorer(policy.tokenizer, policy.template) if evaluation else None,
        chunk_tokens=plan.chunk_tokens,
    )

    console.print(f"[bold]precision[/]: {describe_precision(model, trainer.args)}")
    console.print(f"[bold]allocator[/]: {describe_allocator()}")

    # 5. Train (resuming the whole state, or with resume_only_model only the weights),
    #    then the loss curve, the last/best links and the summary.
    return train_and_finish(trainer, run)
