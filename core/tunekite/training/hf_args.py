"""Core's training arguments onto transformers' `TrainingArguments` or a subclass of it
(`Seq2SeqTrainingArguments` for sft, a TRL config for a plugin's trainer), through one
explicit table: `DESTINATIONS` says where every field of core's training group goes."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunekite.distributed import world_size
from tunekite.errors import ArgumentError, TunekiteError
from tunekite.training.parallelism import parallelism_fields

Convert = Callable[[Any, Any], Any]
"""`(value, training group) -> value for the transformers field`."""


@dataclass(frozen=True)
class HF:
    """A transformers `TrainingArguments` field: the first of `fields` the config class
    has (transformers 5.23 renamed some of 5.17's), with its value converter."""

    fields: tuple[tuple[str, Convert | None], ...]


@dataclass(frozen=True)
class Ours:
    """Not a transformers field: `reader` (a module) reads it from the run; for an argument
    declared `read_by=KIND`, `reader` is that kind."""

    reader: str


@dataclass(frozen=True)
class Refused:
    """Declared `arg(unsupported=...)`: resolving a run refuses any value but the default."""


def hf(*names: str) -> HF:
    return HF(tuple((name, None) for name in names))


def _warmup(_value: Any, training: Any) -> int | float:
    """transformers 5 takes a ratio as a float `warmup_steps` in [0, 1) (5.17 dropped the
    `warmup_ratio` field); `--warmup_steps` > 0 wins over `--warmup_ratio`, as in ms-swift."""
    if training.warmup_steps > 0:
        return training.warmup_steps
    if not 0 <= training.warmup_ratio < 1:
        raise ArgumentError(f"--warmup_ratio must be in [0, 1), got {training.warmup_ratio}")
    return training.warmup_ratio


DESTINATIONS: dict[str, HF | Ours | Refused] = {
    "per_device_train_batch_size": hf("per_device_train_batch_size"),
    "per_device_eval_batch_size": hf("per_device_eval_batch_size"),
    "gradient_accumulation_steps": hf("gradient_accumulation_steps"),
    "learning_rate": hf("learning_rate"),
    "weight_decay": hf("weight_decay"),
    "adam_beta1": hf("adam_beta1"),
    "adam_beta2": hf("adam_beta2"),
    "adam_epsilon": hf("adam_epsilon"),
    "max_grad_norm": hf("max_grad_norm"),
    "optim": hf("optim"),
    "num_train_epochs": hf("num_train_epochs"),
    "max_steps": hf("max_steps"),
    "lr_scheduler_type": hf("lr_scheduler_type"),
    "lr_scheduler_kwargs": hf("lr_scheduler_kwargs"),
    "warmup_ratio": HF((("warmup_steps", _warmup),)),
    "warmup_steps": HF((("warmup_steps", _warmup),)),
    "neftune_noise_alpha": hf("neftune_noise_alpha"),
    "loss_type": Ours("trainers"),  # rlhf's algorithms read it; sft and pt reject it
    # transformers 5.23 renamed gradient_checkpointing* to activation_checkpointing*.
    "gradient_checkpointing": hf("activation_checkpointing", "gradient_checkpointing"),
    "gradient_checkpointing_kwargs": hf("activation_checkpointing_kwargs", "gradient_checkpointing_kwargs"),
    # they select a parallelism engine, whose fields tunekite.training.parallelism adds
    "deepspeed": Ours("tunekite.training.parallelism"),
    "fsdp": Ours("tunekite.training.parallelism"),
    "fsdp_config": Ours("tunekite.training.parallelism"),
    "bf16": hf("bf16"),
    "fp16": hf("fp16"),
    "torch_compile": hf("torch_compile"),
    "use_cpu": hf("use_cpu"),
    "ddp_backend": hf("ddp_backend"),
    "ddp_find_unused_parameters": hf("ddp_find_unused_parameters"),
    "ddp_timeout": hf("ddp_timeout"),
    "average_tokens_across_devices": hf("average_tokens_across_devices"),
    "dataloader_num_workers": hf("dataloader_num_workers"),
    "dataloader_pin_memory": hf("dataloader_pin_memory"),
    "remove_unused_columns": Refused(),
    # transformers 5.17 replaced group_by_length with train_sampling_strategy.
    "group_by_length": HF((("train_sampling_strategy", lambda on, _: "group_by_length" if on else None),)),
    "padding_free": Ours("tunekite.trainers.sft"),
    "padding_free_chunk_tokens": Ours("tunekite.trainers.sft"),
    "logging_steps": hf("logging_steps"),
    "logging_first_step": hf("logging_first_step"),
    "report_to": HF((("report_to", lambda to, _: [] if to in (["none"], []) else list(to)),)),
    "save_strategy": hf("save_strategy"),
    "save_steps": hf("save_steps"),
    "save_total_limit": hf("save_total_limit"),
    "save_only_model": hf("save_only_model"),
    "save_on_each_node": hf("save_on_each_node"),
    "create_checkpoint_symlink": Ours("tunekite.trainers.sft"),
    "eval_strategy": hf("eval_strategy"),
    "eval_steps": hf("eval_steps"),
    "predict_with_generate": Ours("trainers"),  # sft and pt generate at evaluation; rlhf rejects it
    "metric": Ours("trainers"),
    "metric_for_best_model": hf("metric_for_best_model"),
    "greater_is_better": hf("greater_is_better"),
    "load_best_model_at_end": hf("load_best_model_at_end"),
    "acc_strategy": Ours("tunekite.trainers.sft"),
    "resume_from_checkpoint": Ours("tunekite.training.checkpoints"),
    "resume_only_model": Ours("tunekite.training.checkpoints"),
    "check_model": Refused(),
    "push_to_hub": Refused(),
    "hub_model_id": Refused(),
    "hub_private_repo": Refused(),
}


def hf_training_arguments(
    run: Any, output_dir: Path, *, has_eval: bool, model_dtype: Any = None, **own: Any
) -> Any:
    """The sft trainer's `Seq2SeqTrainingArguments` (plus `own` fields); batches group by
    the `length` column."""
    from transformers import Seq2SeqTrainingArguments

    return training_config(
        Seq2SeqTrainingArguments,
        run,
        output_dir,
        has_eval=has_eval,
        model_dtype=model_dtype,
        length_column_name="length",
        **own,
    )


def mapped_values(training: Any, accepted: set[str], class_name: str) -> dict[str, Any]:
    """The training group's values under their transformers names, by `DESTINATIONS`.
    A field without an entry, or whose destinations `class_name` lacks, is an error."""
    values: dict[str, Any] = {}
    for f in dataclasses.fields(training):
        where = DESTINATIONS.get(f.name)
        if where is None:
            raise TunekiteError(
                f"training argument {f.name!r} has no entry in tunekite.training.hf_args.DESTINATIONS"
            )
        if not isinstance(where, HF):
            continue
        found = next(((name, convert) for name, convert in where.fields if name in accepted), None)
        if found is None:
            options = " or ".join(name for name, _ in where.fields)
            raise TunekiteError(
                f"--{f.name}: {class_name} has no field {options}; this transformers version is not supported"
            )
        name, convert = found
        value = getattr(training, f.name)
        value = convert(value, training) if convert else value
        values[name] = value
    return values


def training_config(
    config_class: type, run: Any, output_dir: Path, *, has_eval: bool, model_dtype: Any = None, **own: Any
) -> Any:
    """`config_class` from the run's training group (through `DESTINATIONS`), plus the
    caller's `own` fields, so every trainer reads `--learning_rate`, `--save_steps`, ...
    alike. Evaluation follows saving when there is eval data, bf16/fp16 follow the model's
    dtype unless given, and `max_length` is the run's where the class has that field."""
    import torch

    training = run.groups["training"]
    accepted = {f.name for f in dataclasses.fields(config_class)}
    unknown = set(own) - accepted
    if unknown:
        raise TypeError(f"{config_class.__name__} has no field(s) {sorted(unknown)}")
    values = mapped_values(training, accepted, config_class.__name__)
    values.update(
        output_dir=str(output_dir),
        seed=run.seed,
        data_seed=run.data_seed,
        remove_unused_columns=False,  # the recipes' datasets hold exactly what their trainers read
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
        generated = {"rouge": "rouge-l", "acc": "acc"}[training.metric]  # --predict_with_generate's
        best = generated if training.predict_with_generate else "loss"
        values["metric_for_best_model"] = training.metric_for_best_model or best
    else:
        values["eval_strategy"] = "no"
        values["load_best_model_at_end"] = False
    if not torch.cuda.is_available():
        values["use_cpu"] = True
    if world_size() > 1 and getattr(run.groups.get("data"), "streaming", False):
        # Each rank reads its own share of the stream (accelerate shards it by rank) instead
        # of rank 0 reading every rank's batch: batches padded apart cannot be concatenated.
        values["accelerator_config"] = {"dispatch_batches": False}
    values.update(parallelism_fields(run))
    values.update(own)
    return config_class(**{k: v for k, v in values.items() if v is not None or k in ("bf16", "fp16")})
