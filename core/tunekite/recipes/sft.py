"""The sft and pt recipe, top to bottom: model, template, data, tuner, trainer, outputs.

`pt` is the same recipe with pre-training defaults (plain text, every token trained),
declared on its `TrainerSpec`.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any


def run(run: Any) -> dict[str, Any]:
    from transformers import set_seed

    from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
    from tunekite.data.prepare import prepare_datasets
    from tunekite.models.loader import load_model
    from tunekite.plugins import get_host
    from tunekite.templates.resolve import build_template
    from tunekite.training.checkpoints import train_resuming
    from tunekite.training.hf_args import hf_training_arguments
    from tunekite.training.outputs import (
        JsonlLogger,
        describe_checkpoint,
        link_checkpoints,
        plot_loss,
        write_manifest,
    )
    from tunekite.training.trainer import TunekiteTrainer

    out: Path = run.output_dir
    set_seed(run.seed)
    write_manifest(run, out)

    # 1. The model and its tokenizer.
    model, tokenizer = load_model(run)
    dtype = next(model.parameters()).dtype

    # 2. The template: how conversations become ids, labels and loss weights.
    template = build_template(tokenizer, run.groups["template"], run.model, run.model_type)

    # 3. The data, encoded (and packed) by that template.
    train, val = prepare_datasets(run, template)

    # 4. The tuner adapts the model (LoRA, full, ...); it may bring its own optimizer.
    tuner = run.component("tuners")
    model = tuner.load()(model, run.component_args(tuner), run.groups["tuner"])
    if run.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()  # frozen embeddings must still pass gradients to adapters
    make_optimizer = None
    if tuner.optimizer is not None:
        make_optimizer = partial(tuner.load_optimizer(), args=run.component_args(tuner), run=run)

    # 5. The trainer: transformers' Trainer with the template's per-token loss weights.
    padding_free = run.packing or run.padding_free
    collator = (
        PaddingFreeCollator() if padding_free else PaddedCollator.for_tokenizer(tokenizer, run.padding_side)
    )
    trainer = TunekiteTrainer(
        model=model,
        args=hf_training_arguments(run, out, has_eval=val is not None, model_dtype=dtype),
        train_dataset=train,
        eval_dataset=val,
        data_collator=collator,
        processing_class=tokenizer,
        callbacks=[JsonlLogger(out / "logging.jsonl"), *get_host().train_callbacks(run)],
        acc_strategy=run.acc_strategy,
        describe_checkpoint=partial(
            describe_checkpoint, run, template=template.name, model_dtype=str(dtype).removeprefix("torch.")
        ),
        make_optimizer=make_optimizer,
    )

    # 6. Train, resuming the whole state or (resume_only_model) only the weights.
    last = train_resuming(trainer, run)

    # 7. The loss curve and the links to the last and best checkpoints.
    plot_loss(trainer.state.log_history, out)
    if run.create_checkpoint_symlink:
        link_checkpoints(out, str(last), trainer.state.best_model_checkpoint)
    print(f"last checkpoint: {last}")
    return {
        "last_checkpoint": last,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "log_history": trainer.state.log_history,
    }
