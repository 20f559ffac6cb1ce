"""What an evaluator is given (`EvalJob`) and what it hands back (`DatasetResult` of
`EvalSample`s): plain data, so core writes every backend's results the same way
(`write_scored`, for `tk run eval` and for evaluations during training)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
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


SCORES_FILE = "scores.json"
PREDICTIONS = "predictions"


def file_name(dataset: str) -> str:
    """A dataset value as a file name: `arithmetic:small` -> `arithmetic-small`, a path -> its name."""
    stem = Path(dataset).name if os.sep in dataset else dataset
    return re.sub(r"[^\w.-]+", "-", stem).strip("-") or "dataset"


def write_scored(
    target: Path,
    results: Sequence[DatasetResult],
    seconds: Mapping[str, float],
    finish: Callable[[Path], None] = lambda folder: None,
) -> Path:
    """`target` with `predictions/<dataset>.jsonl` (every sample: question, reply, reference,
    scores) and `scores.json` (per dataset: kind, samples, seconds, mean scores), plus what
    `finish(folder)` adds; written in a hidden sibling folder and renamed when complete."""
    from tunekite.run_folder import write_json

    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / PREDICTIONS).mkdir(parents=True)
    try:
        scores: dict[str, Any] = {}
        for result in results:
            predictions = staging / PREDICTIONS / f"{file_name(result.dataset)}.jsonl"
            with predictions.open("w", encoding="utf-8") as out:
                for sample in result.samples:
                    out.write(json.dumps(dataclasses.asdict(sample), ensure_ascii=False, default=str) + "\n")
            scores[result.dataset] = {
                "kind": result.kind,
                "samples": len(result.samples),
                "seconds": round(seconds.get(result.dataset, 0.0), 2),
                **result.scores,
            }
        write_json(staging / SCORES_FILE, {"scores": scores, "seconds": round(sum(seconds.values()), 2)})
        finish(staging)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone after the rename; a failure's leftovers
    return target
