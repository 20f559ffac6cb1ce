"""Core's training arguments onto transformers' `TrainingArguments` or a subclass of it
(`Seq2SeqTrainingArguments` for sft, a TRL config for a plugin's trainer)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

# Our arguments that transformers does not have: the recipe and trainer read them.
OURS = frozenset(
    {
        "loss_type",
        "acc_strategy",
        "create_checkpoint_symlink",
        "resume_from_checkpoint",
        "resume_only_model",
        "check_model",
        "padding_free",
        "remove_unused_columns",
    }
)


def hf_training_arguments(run: Any, output_dir: Path, *, has_eval: bool, model_dtype: Any = None) -> Any:
    """The sft trainer's `Seq2SeqTrainingArguments`; batches group by the `length` column."""
    from transformers import Seq2SeqTrainingArguments

    return training_config(
        Seq2SeqTrainingArguments,
        run,
        output_dir,
        has_eval=has_eval,
        model_dtype=model_dtype,
        length_column_name="length",
    )


def training_config(
    config_class: type, run: Any, output_dir: Path, *, has_eval: bool, model_dtype: Any = None, **own: Any
) -> Any:
    """`config_class` from the run's training group (the fields it has), plus the caller's
    `own` fields, so every trainer reads `--learning_rate`, `--save_steps`, ... alike.
    Evaluation follows saving when there is eval data, bf16/fp16 follow the model's dtype
    unless given, and `max_length` is the run's where the class has that field."""
    import torch

    training = run.groups["training"]
    accepted = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(own) - accepted
    if unknown:
        raise TypeError(f"{config_class.__name__} has no field(s) {sorted(unknown)}")
    values = {k: v for k, v in dataclasses.asdict(training).items() if k in accepted and k not in OURS}
    for old, new in (
        ("gradient_checkpointing", "activation_checkpointing"),
        ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
    ):
        if new in accepted and old in values:  # transformers 5 renamed them
            values[new] = values.pop(old)
    values.update(
        output_dir=str(output_dir),
        seed=run.seed,
        data_seed=run.data_seed,
        remove_unused_columns=False,  # the recipes' datasets hold exactly what their trainers read
        report_to=[] if training.report_to in (["none"], []) else list(training.report_to),
    )
    if "max_length" in accepted and run.max_length is not None:
        values["max_length"] = run.max_length
    if training.bf16 is None:
        values["bf16"] = model_dtype == torch.bfloat16
    if training.fp16 is None:
        values["fp16"] = model_dtype == torch.float16
    if has_eval:
        values["eval_strategy"] = training.eval_strategy or training.save_strategy
        values["eval_steps"] = training.eval_steps or training.save_steps
        values["metric_for_best_model"] = training.metric_for_best_model or "loss"
    else:
        values["eval_strategy"] = "no"
        values["load_best_model_at_end"] = False
    if not torch.cuda.is_available():
        values["use_cpu"] = True
    if values.get("max_steps", -1) > 0:
        values.pop("num_train_epochs", None)
    values.update(own)
    return config_class(**{k: v for k, v in values.items() if v is not None or k in ("bf16", "fp16")})
