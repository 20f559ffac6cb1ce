"""What an evaluator is given (`EvalJob`) and what it hands back (`DatasetResult` of
`EvalSample`s): plain data, so core writes every backend's results the same way."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tunekite.evaluation.answering import Answerer


@dataclass(frozen=True)
class EvalSample:
    """One scored question: the conversation asked, the reply, the reference it was checked
    against, and its scores (`{"acc": 1.0}`, `{"pass@1": 0.0}`, ...)."""

    index: int
    prompt: list[dict[str, Any]]
    prediction: str
    reference: Any
    scores: dict[str, float]
    extra: dict[str, Any] = field(default_factory=dict)
    """What else explains the score: the extracted answer letter, the program's outcome."""


@dataclass(frozen=True)
class DatasetResult:
    """One `--eval_dataset` value's mean scores and its samples (none for a backend that
    keeps its own per-sample log)."""

    dataset: str
    scores: dict[str, float]
    samples: tuple[EvalSample, ...] = ()
    kind: str = ""
    """How it was scored: multiple_choice, qa, math, code, or the library's task name."""


@dataclass(frozen=True)
class EvalJob:
    """What `tk run eval` gives the evaluator `--eval_backend` names.

    - `datasets`: the `--eval_dataset` values, in order.
    - `limit`: `--eval_limit`, the most samples scored per dataset (None: all).
    - `answer`: `answer(conversations, **overrides) -> replies` through the run's engine or
      `--eval_url` server (see `tunekite.evaluation.answering.Answerer`).
    - `load_rows`: core's loader: a local file or folder, or a registered dataset name
      (`arithmetic:small`), as canonical rows (`messages` plus the other columns).
    - `dataset_args`: `--eval_dataset_args`, options per dataset name.
    - `seed`: `--seed`.
    - `report`: called with each scored sample as it comes (prints it under `--verbose`).
    """

    datasets: tuple[str, ...]
    limit: int | None
    answer: Answerer
    load_rows: Callable[[str], list[dict[str, Any]]]
    dataset_args: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seed: int = 42
    report: Callable[[str, EvalSample], None] = lambda dataset, sample: None
