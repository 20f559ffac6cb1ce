"""Registers one tuner per row of `tunekite_peft.methods.METHODS`, and AdaLoRA's budget
callback. Light on purpose: peft is imported only when a tuner is applied."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from tunekite.api import TunerSpec, hookimpl
from tunekite_peft.methods import METHODS


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    from tunekite_peft.tuner import prepare  # light: imports peft only when called

    for name, method in METHODS.items():
        register(
            TunerSpec(
                name=name,
                summary=method.summary,
                args=method.args,
                factory=partial(prepare, name),
                aliases=method.aliases,
            )
        )


@hookimpl
def tk_train_callbacks(run: Any) -> list[Any] | None:
    """AdaLoRA re-allocates its rank budget after every optimizer step."""
    tuners = run.components.get("tuners") or []
    if not any(spec.name == "adalora" for spec in tuners):
        return None
    from tunekite_peft.adalora import RankBudgetCallback

    return [RankBudgetCallback()]
