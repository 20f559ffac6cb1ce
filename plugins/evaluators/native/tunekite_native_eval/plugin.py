"""Registers the `native` evaluator. Light: scoring libraries load only when it runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import EvaluatorSpec, arg, hookimpl


@dataclass(kw_only=True)
class NativeEvalArguments:
    """How the native evaluator runs generated code."""

    code_timeout: float = arg(3.0, help="seconds each generated program may run (HumanEval's default)")
    code_workers: int = arg(2, help="generated programs run at a time, each in its own python process")


@hookimpl
def tk_register_evaluators(register: Callable[[EvaluatorSpec], None]) -> None:
    register(
        EvaluatorSpec(
            name="native",
            summary="Offline: multiple choice, open QA, math (math-verify), code pass@1 (humaneval)",
            args=NativeEvalArguments,
            factory="tunekite_native_eval.evaluate:evaluate",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
