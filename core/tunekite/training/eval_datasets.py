"""`--eval_dataset` in sft/pt (ms-swift's `--eval_use_evalscope true --eval_dataset ...`):
at each evaluation the native evaluator, the one `tk run eval` uses, scores the model being
trained (core's pt engine over the in-memory model, nothing reloaded), its scores are
logged as `eval_<dataset>_<metric>` (usable as `--metric_for_best_model`) and every
answer goes to `<output_dir>/eval/<step>/` as `tk run eval` writes its results.

Everything that can fail is checked before the model loads: evaluation switched off, a
dataset the evaluator cannot open (each is opened with an answerer that stops at the first
question), two datasets that would log under one name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tunekite.errors import ArgumentError, UnknownNameError
from tunekite.evaluation.answering import engine_answerer
from tunekite.evaluation.results import DatasetResult, EvalJob, file_name, write_scored

EVALUATOR = "native"
"""ms-swift evaluates during training with evalscope's native backend only; so do we."""
GENERATION = {"max_tokens": 512, "temperature": 0.0}
"""ms-swift's `eval_generation_config` default (512 new tokens), greedy as `tk run eval`."""
SETTINGS = ("max_tokens", "temperature", "top_p", "top_k", "repetition_penalty", "stop")
FOLDER = "eval"
_DATA_SUFFIX = re.compile(r"\.(jsonl|json|csv|tsv|parquet|arrow|txt)$")


class _Asked(Exception):
    """Raised by the start-up answerer: the evaluator opened the dataset and asked."""


def metric_prefix(dataset: str) -> str:
    """The name a dataset's scores are logged under: `arithmetic:small` -> `arithmetic-small`,
    `data/qa.jsonl` -> `qa` (so `eval_qa_rouge-l`)."""
    return _DATA_SUFFIX.sub("", file_name(dataset)) or "dataset"


@dataclass(frozen=True)
class DatasetEvaluation:
    """The checked `--eval_dataset` settings of a run; `scorer` binds them to a tokenizer
    and template, giving what `TunekiteTrainer` calls at each evaluation."""

    run: Any
    evaluate: Callable[..., Any]
    evaluator_args: Any
    settings: Mapping[str, Any]
    prefixes: Mapping[str, str]

    def job(self, answer: Callable[..., list[str]], datasets: tuple[str, ...] | None = None) -> EvalJob:
        from tunekite.tasks.evaluate import load_rows

        return EvalJob(
            datasets=datasets or tuple(self.run.eval_dataset),
            limit=self.run.eval_limit,
            answer=answer,
            load_rows=lambda name: load_rows(self.run, name),
            dataset_args=self.run.eval_dataset_args or {},
            seed=self.run.seed,
        )

    def scorer(self, tokenizer: Any, template: Any) -> Callable[[Any, int], dict[str, float]]:
        """`scores(model, step) -> {"<dataset>_<metric>": value}`; writes `eval/<step>/`."""

        def scores(model: Any, step: int) -> dict[str, float]:
            from tunekite.distributed import is_main_process
            from tunekite.engines.pt import PtEngine

            batch = self.run.per_device_eval_batch_size
            engine = PtEngine(model, tokenizer, template, max_batch_size=batch)
            job = self.job(engine_answerer(engine, self.settings, batch))
            results: list[DatasetResult] = []
            seconds: dict[str, float] = {}
            started = time.perf_counter()
            for result in self.evaluate(self.evaluator_args, job):
                seconds[result.dataset] = time.perf_counter() - started - sum(seconds.values())
                results.append(result)
            if is_main_process():
                target = self.run.output_dir / FOLDER / str(step)
                shutil.rmtree(target, ignore_errors=True)  # a resumed run evaluates its step again
                target.parent.mkdir(parents=True, exist_ok=True)
                write_scored(target, results, seconds)
            return {
                f"{self.prefixes[r.dataset]}_{metric}": value
                for r in results
                for metric, value in r.scores.items()
            }

        return scores


def dataset_evaluation(run: Any, *, has_val: bool) -> DatasetEvaluation | None:
    """The run's `--eval_dataset` settings, checked; None without `--eval_dataset`.
    `has_val`: whether there is validation data (a loss to evaluate as well)."""
    if not run.eval_dataset:
        return None
    training = run.groups["training"]
    if (training.eval_strategy or training.save_strategy) == "no":
        given = "--eval_strategy no" if training.eval_strategy else "--save_strategy no (which it follows)"
        raise ArgumentError(
            f"--eval_dataset scores the model at each evaluation, and {given} turns evaluation off: "
            "set --eval_strategy steps (with --eval_steps N) or epoch, or drop --eval_dataset"
        )
    if training.load_best_model_at_end and not training.metric_for_best_model and not has_val:
        raise ArgumentError(
            "--load_best_model_at_end without validation data has no eval_loss: set --metric_for_best_model "
            f"to an --eval_dataset score such as {metric_prefix(run.eval_dataset[0])}_<metric>"
        )
    prefixes = {dataset: metric_prefix(dataset) for dataset in run.eval_dataset}
    clash = [d for d in prefixes if list(prefixes.values()).count(prefixes[d]) > 1]
    if clash:
        raise ArgumentError(
            f"--eval_dataset {' and '.join(clash)} would all log as eval_{prefixes[clash[0]]}_<metric>; "
            "give the files different names"
        )
    try:
        spec = run.plugin_host.registry("evaluators").get(EVALUATOR)
    except UnknownNameError as exc:
        raise ArgumentError(f"--eval_dataset: {exc}") from None
    evaluation = DatasetEvaluation(
        run=run,
        evaluate=spec.load(),
        evaluator_args=spec.default_args(),
        settings=_settings(run.eval_generation_config),
        prefixes=prefixes,
    )
    for dataset in run.eval_dataset:
        _open(evaluation, dataset)
    return evaluation


def _settings(config: Mapping[str, Any] | None) -> dict[str, Any]:
    """`GENERATION` updated by `--eval_generation_config`, as `ChatRequest` fields."""
    unknown = sorted(set(config or {}) - set(SETTINGS))
    if unknown:
        raise ArgumentError(
            f"--eval_generation_config: unknown key(s) {', '.join(unknown)}; known: {', '.join(SETTINGS)}"
        )
    settings = {**GENERATION, **(config or {})}
    if "stop" in settings:
        stop = settings["stop"]
        settings["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    return settings


def _open(evaluation: DatasetEvaluation, dataset: str) -> None:
    """Let the evaluator open `dataset` (and read its `--eval_dataset_args`) up to its first
    question, so a name it cannot load fails now, naming it, rather than at the first
    evaluation after minutes of training."""

    def stop(conversations: Any, **overrides: Any) -> list[str]:
        raise _Asked

    job = dataclasses.replace(evaluation.job(stop, (dataset,)), limit=1)
    with contextlib.suppress(_Asked):
        next(iter(evaluation.evaluate(evaluation.evaluator_args, job)), None)
