"""Value checks that need more than a field's type: ranges, settings that exclude each
other, and the files arguments point at. One place, run once after parsing, so a bad value
stops the run with one line naming the argument before anything is loaded or written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunekite.arguments.parser import ADAPTER_CONVERTED, ARGS_FILE, META_KEY
from tunekite.errors import ArgumentError

_AT_LEAST_ONE = (
    "per_device_train_batch_size",
    "per_device_eval_batch_size",
    "gradient_accumulation_steps",
    "save_steps",
    "logging_steps",
    "eval_steps",
    "max_batch_size",
    "write_batch_size",
    "eval_limit",
)
"""Counts that must be at least 1, in whichever group (core's or a component's) declares them."""


def validate(run: Any) -> None:
    """Raise `ArgumentError` with the first problem of the run's argument values."""
    for problem in problems(run.groups):
        raise ArgumentError(problem)


def problems(groups: dict[str, Any]) -> Iterator[str]:
    """Every problem, one line each, in the order the groups are declared."""
    if (model := groups.get("model")) is not None:
        yield from _model(model)
    for group in groups.values():
        for name in _AT_LEAST_ONE:
            value = getattr(group, name, None)
            if value is not None and value < 1:
                yield f"--{name} must be at least 1, got {value}"
    if (training := groups.get("training")) is not None:
        yield from _training(training)


def _model(model: Any) -> Iterator[str]:
    folder = Path(str(model.model)) if model.model else None
    config = folder / "config.json" if folder is not None and folder.is_dir() else None
    if config is None or not config.is_file():
        return
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        yield f"--model {folder}: config.json is not UTF-8 text; the file is corrupt"
        return
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        yield f"--model {folder}: config.json is not valid JSON ({where}: {exc.msg})"
        return
    if not isinstance(data, dict):
        yield f"--model {folder}: config.json holds a {type(data).__name__}, not a JSON object"


def _training(t: Any) -> Iterator[str]:
    if t.learning_rate is not None and not t.learning_rate > 0:
        yield f"--learning_rate must be greater than 0, got {t.learning_rate}"
    if t.fp16 and t.bf16:
        yield "--fp16 true and --bf16 true: choose one mixed precision (bf16 where the device has it)"
    if t.max_steps == 0 or t.max_steps < -1:
        yield f"--max_steps must be positive, or -1 to train --num_train_epochs; got {t.max_steps}"
    elif t.max_steps == -1 and not t.num_train_epochs > 0:
        yield (
            f"--num_train_epochs {t.num_train_epochs:g} trains nothing; "
            "give a positive number of epochs or --max_steps"
        )
    if t.resume_from_checkpoint:
        yield from _checkpoint(Path(t.resume_from_checkpoint))


def _checkpoint(folder: Path) -> Iterator[str]:
    option = f"--resume_from_checkpoint {folder}"
    if not folder.exists():
        yield f"{option}: no such folder"
    elif not folder.is_dir():
        yield f"{option}: a file, not a checkpoint folder"
    elif not any(folder.iterdir()):
        yield f"{option}: the folder is empty, not a checkpoint"
    elif _converted(folder):
        yield (
            f"{option}: its adapter was converted to apply to the original base model (LoRA-GA), "
            f"so it no longer fits the model a resumed run trains; continue from it with --adapters {folder}"
        )


def _converted(folder: Path) -> bool:
    """Whether the checkpoint's args.json says its adapter was converted at save."""
    try:
        data = json.loads((folder / ARGS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # no or unreadable args.json: whoever reads it says so
    checkpoint = data.get(META_KEY, {}).get("checkpoint", {}) if isinstance(data, dict) else {}
    return bool(isinstance(checkpoint, dict) and checkpoint.get(ADAPTER_CONVERTED))
