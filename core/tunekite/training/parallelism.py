"""The parallelism engine a training run selects (`--deepspeed`, `--fsdp`): its step
before the model loads, and the transformers `TrainingArguments` fields it sets."""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError, TunekiteError


def _selected(run: Any) -> Any:
    """The selected `ParallelismSpec`, or None; two at once is an error (`--fsdp` and
    `--fsdp_config` both select fsdp)."""
    specs = list({s.name: s for s in getattr(run, "components", {}).get("parallelisms", [])}.values())
    if len(specs) > 1:
        names = ", ".join(s.name for s in specs)
        raise ArgumentError(f"--deepspeed and --fsdp both shard the model; choose one (selected: {names})")
    return specs[0] if specs else None


def before_model(run: Any) -> None:
    """What the engine must do before `from_pretrained` (ZeRO-3's process group)."""
    spec = _selected(run)
    step = spec.load_before_model() if spec is not None else None
    if step is not None:
        step(run.component_args(spec), run)


def parallelism_fields(run: Any) -> dict[str, Any]:
    """The `TrainingArguments` fields of the selected engine; {} when none is selected."""
    spec = _selected(run)
    if spec is None:
        return {}
    fields = spec.load()(run.component_args(spec), run)
    if not isinstance(fields, dict):
        raise TunekiteError(
            f"parallelism {spec.name!r} returned {type(fields).__name__}; it must return a dict of "
            "TrainingArguments fields"
        )
    return fields
