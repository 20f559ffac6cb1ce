"""Core's training arguments onto transformers' `Seq2SeqTrainingArguments`."""

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
    """The transformers arguments for a run; evaluation follows saving when there is eval data."""
    import torch
    from transformers import Seq2SeqTrainingArguments

    training = run.groups["training"]
    accepted = {f.name for f in dataclasses.fields(Seq2SeqTrainingArguments)}
    values = {k: v for k, v in dataclasses.asdict(training).items() if k in accepted and k not in OURS}
    values.update(
        output_dir=str(output_dir),
        seed=run.seed,
        data_seed=run.data_seed,
        remove_unused_columns=False,  # loss_scale and position_ids are ours to consume
        report_to=[] if training.report_to in (["none"], []) else training.report_to,
    )
    values["length_column_name"] = "length"
    for old, new in (
        ("gradient_checkpointing", "activation_checkpointing"),
        ("gradient_checkpointing_kwargs", "activation_checkpointing_kwargs"),
    ):
        if new in accepted and old in values:  # transformers 5 renamed them
            values[new] = values.pop(old)
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
    return Seq2SeqTrainingArguments(
        **{k: v for k, v in values.items() if v is not None or k in ("bf16", "fp16")}
    )
