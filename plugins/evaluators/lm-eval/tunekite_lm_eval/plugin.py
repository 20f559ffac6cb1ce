"""Registers the `lm_eval` evaluator. Light: lm-eval is imported only when it runs."""

from __future__ import annotations

from collections.abc import Callable

from tunekite.api import EvaluatorSpec, hookimpl


@hookimpl
def tk_register_evaluators(register: Callable[[EvaluatorSpec], None]) -> None:
    register(
        EvaluatorSpec(
            name="lm_eval",
            summary="Public benchmarks (gsm8k, arc, mmlu, ceval, any lm-eval task) via lm-evaluation-harness",
            factory="tunekite_lm_eval.evaluate:evaluate",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
