"""What every TRL-based recipe of this plugin shares beyond core's training outputs
(`tunekite.api`: `training_config`, `AtomicCheckpoints`, `describe_checkpoint`,
`write_manifest`, `JsonlLogger`): the trainer class, the callbacks, the reference model,
and training with resume.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

LOG_FILE = "logging.jsonl"


def tunekite_trainer(base: type) -> type:
    """`base` (a TRL trainer class) with core's atomic checkpoints, described by the
    `describe_checkpoint` its constructor takes (see `describer`)."""
    from tunekite.api import AtomicCheckpoints

    return type(f"Tunekite{base.__name__}", (AtomicCheckpoints, base), {})


def describer(run: Any, template: str, model_dtype: Any, **extra: Any) -> Callable[[Path], None]:
    """A checkpoint's self-description: core's, plus the rlhf_type and the algorithm's `extra`."""
    from tunekite.api import describe_checkpoint

    dtype = str(model_dtype).removeprefix("torch.")
    return partial(
        describe_checkpoint, run, template=template, model_dtype=dtype, rlhf_type=run.rlhf_type, **extra
    )


def callbacks(run: Any) -> list[Any]:
    """logging.jsonl plus every plugin's `tk_train_callbacks` contribution."""
    from tunekite.api import JsonlLogger, get_host

    return [JsonlLogger(run.output_dir / LOG_FILE), *get_host().train_callbacks(run)]


def train(trainer: Any, run: Any) -> dict[str, Any]:
    """Train (resuming the whole state, or only the weights with --resume_only_model), then
    make sure the last step has a checkpoint."""
    from tunekite.api import train_resuming

    last = train_resuming(trainer, run)
    print(f"last checkpoint: {last}")
    return {
        "last_checkpoint": last,
        "best_checkpoint": trainer.state.best_model_checkpoint,
        "log_history": trainer.state.log_history,
        "trainer": trainer,
    }


def load_reference(run: Any, model: Any) -> Any:
    """The frozen reference model of dpo and kto: None with an adapter tuner (TRL then
    disables the adapters: the base is the reference, no second copy); with full tuning
    `--ref_model`, else a second copy of `--model`. `--ref_model` also overrides an adapter."""
    from tunekite.api import load_model

    if run.ref_model is None and _is_peft(model):
        return None
    margs = run.groups["model"]
    if run.ref_model is not None:
        margs = dataclasses.replace(
            margs, model=run.ref_model, model_type=run.ref_model_type, model_revision=run.ref_model_revision
        )
    ref, _ = load_model(margs, max_length=run.max_length)
    ref.eval()
    ref.requires_grad_(False)
    return ref


def _is_peft(model: Any) -> bool:
    try:
        from peft import PeftModel
    except ImportError:  # pragma: no cover - peft is a dependency
        return False
    return isinstance(model, PeftModel)
