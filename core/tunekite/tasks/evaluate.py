"""`tk run eval`: score a model, an adapter or a running server on datasets.

Reads top to bottom: check the datasets and the backend, get an answerer (the run's
engine, built as `tk run infer` builds it, or the `--eval_url` server), let the evaluator
`--eval_backend` names score each dataset, then write the results folder whole
(`predictions/<dataset>.jsonl`, `scores.json`, `args.json`, `run_manifest.json`) and
print the table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.engines.protocol import generation_settings
from tunekite.errors import ArgumentError
from tunekite.evaluation.answering import Answerer, engine_answerer, url_answerer
from tunekite.evaluation.results import DatasetResult, EvalJob, EvalSample, write_scored

if TYPE_CHECKING:
    from tunekite.launcher import Run


def run(run: Run) -> Path:
    """The `eval` task: the results folder."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if not run.eval_dataset:
        raise ArgumentError("tk run eval needs --eval_dataset (e.g. humaneval, arithmetic:small or a file)")
    spec = run.component("evaluators")
    evaluate = spec.load()  # a backend's missing library fails before minutes of model loading
    answer = _answerer(run)

    def report(dataset: str, sample: EvalSample) -> None:
        if run.verbose:
            console.print(f"[{dataset} #{sample.index}] {sample.prediction!r} -> {sample.scores}")

    job = EvalJob(
        datasets=tuple(run.eval_dataset),
        limit=run.eval_limit,
        answer=answer,
        load_rows=lambda name: load_rows(run, name),
        dataset_args=run.eval_dataset_args or {},
        seed=run.seed,
        report=report,
    )
    started = time.perf_counter()
    results, seconds = [], {}
    for result in evaluate(run.component_args(spec), job):  # each dataset timed as it is scored
        seconds[result.dataset] = time.perf_counter() - started - sum(seconds.values())
        results.append(result)
    folder = write_results(run, results, seconds)
    total = sum(seconds.values())
    console.print(score_table(results, title=f"{spec.name} evaluation ({total:.1f} s)"))
    console.print(f"results: {folder}")
    return folder


def _answerer(run: Run) -> Answerer:
    """Replies from `--eval_url`, else from the engine `--infer_backend` names, over the
    model and `--adapters` (their args.json filling the base model, as for infer)."""
    settings = {**generation_settings(run.groups["generation"]), "seed": run.seed}
    if run.eval_url:
        if run.adapters:
            raise ArgumentError("--eval_url scores the server's model: load --adapters in `tk run deploy`")
        return url_answerer(run.eval_url, settings, num_proc=run.eval_num_proc, api_key=run.api_key)
    from transformers import set_seed

    from tunekite.tasks.infer import build_engine, build_folder_engine
    from tunekite.tasks.loading import load_for_inference, with_checkpoint_args

    run = with_checkpoint_args(run)
    set_seed(run.seed)
    if run.component("engines").loads_model:
        engine = build_folder_engine(run)
    else:
        engine = build_engine(run, *load_for_inference(run))
    settings.pop("seed")  # in-process engines are seeded above
    return engine_answerer(engine, settings, run.max_batch_size)


def load_rows(run: Run, name: str) -> list[dict[str, Any]]:
    """A file, folder or registered dataset as canonical rows (extra columns kept)."""
    from tunekite.arguments.groups import DataArguments
    from tunekite.data.loading import load_datasets

    data = DataArguments(dataset=[name], split_dataset_ratio=0.0)
    rows, _, _ = load_datasets(data, require_response=False, host=run.plugin_host)
    return [dict(row) for row in rows]


def write_results(run: Run, results: list[DatasetResult], seconds: dict[str, float]) -> Path:
    """`<eval_output_dir>/<time>/`: predictions and scores, `args.json` and the manifest."""
    from tunekite.run_folder import write_args
    from tunekite.training.outputs import write_manifest

    base = Path(run.eval_output_dir)
    target = base / time.strftime("%Y%m%d-%H%M%S")
    while target.exists():
        target = target.with_name(target.name + "-1")

    def finish(staging: Path) -> None:
        write_args(run, staging)
        write_manifest(run, staging, eval_backend=run.eval_backend, eval_url=run.eval_url)

    return write_scored(target, results, seconds, finish)


def score_table(results: list[DatasetResult], *, title: str) -> Any:
    """A rich table: one row per dataset and metric."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("dataset", "kind", "metric", "score", "samples"):
        table.add_column(column, justify="right" if column in ("score", "samples") else "left")
    for result in results:
        for metric, value in result.scores.items():
            table.add_row(result.dataset, result.kind, metric, f"{value:.4f}", str(len(result.samples)))
    return table
