"""`tk run sample`, top to bottom: the output file (refused early when it exists), the
prompts of this `--data_range` shard, the template, the rewards, the engine (loaded only
when something is generated), then batch after batch of prompts through the sampler, and
the rows written to `<output_dir>/<output_file>` in one rename, so a failed run leaves no
half-written file (only its finished batches, for `--resume`: `progress`)."""

from __future__ import annotations

import functools
import itertools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError
from tunekite_sample.best_of_n import BestOfN
from tunekite_sample.engine import build_engine, check_server_arguments, generates
from tunekite_sample.mcts import Search, result_row
from tunekite_sample.progress import finished_batches, partial_path, record
from tunekite_sample.prompts import Prompt, load_prompts, read_cache, shard
from tunekite_sample.scoring import build_judge

COUNTS = (
    "num_return_sequences",
    "n_best_to_keep",
    "num_sampling_per_gpu_batch_size",
    "num_sampling_per_gpu_batches",
    "max_iterations",
)
"""Sampling counts that must be at least 1 (None: no limit)."""
DEFAULT_STEP_SEPARATOR = "\n"
"""What ends an MCTS step when `--stop_words` names none."""


def run(run: Any) -> Path:
    """The `sample` task: returns the output file."""
    from rich.console import Console
    from transformers import set_seed

    from tunekite.api import with_checkpoint_args

    console = Console(stderr=True, highlight=False)
    run = with_checkpoint_args(run)
    target = output_path(run)
    if run.sampler_type == "mcts" and run.orm_model is None:
        raise ArgumentError(
            "--sampler_type mcts scores finished answers with --orm_model; name one (e.g. accuracy)"
        )
    check_server_arguments(run)
    if run.sampler_type == "mcts" and not generates(run):
        raise ArgumentError(
            f"--sampler_type mcts generates as it searches; --sampler_engine {run.sampler_engine}"
        )
    for name in COUNTS:
        if getattr(run, name) is not None and getattr(run, name) < 1:
            raise ArgumentError(f"--{name} must be at least 1, got {getattr(run, name)}")
    set_seed(run.seed)
    prompts = shard(load_prompts(run), run.data_range)
    size, limit = run.num_sampling_per_gpu_batch_size, run.num_sampling_per_gpu_batches
    batches = list(itertools.islice(_chunks(prompts, size), limit))
    names = [tuple(p.id for p in batch) for batch in batches]
    done = finished_batches(target, run.resume, names)
    sample = sampler(run, *_template(run), [p for batch in batches for p in batch])
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    for number, (batch, name) in enumerate(zip(batches, names, strict=True), 1):
        if name in done:
            rows += done[name]
            console.print(f"batch {number}/{len(batches)}: resumed, {len(rows)} rows so far")
            continue
        new = sample(batch)
        record(partial_path(target), [(name, new)])
        rows += new
        console.print(f"batch {number}/{len(batches)}: {len(rows)} rows so far")
    write_rows(target, rows)
    partial_path(target).unlink(missing_ok=True)
    seconds = time.perf_counter() - started
    count = sum(len(b) for b in batches)
    console.print(f"sampled {count} prompts into {len(rows)} rows in {seconds:.1f} s: {target}")
    return target


def sampler(
    run: Any, tokenizer: Any, template: Any, prompts: Sequence[Prompt]
) -> Callable[[list[Prompt]], list[dict[str, Any]]]:
    """What turns a batch of prompts into output rows: the MCTS search or best-of-N (which
    checks first that a run without an engine has every prompt's completions cached)."""
    judge = build_judge(run)
    engine = _Lazy(run)
    if run.sampler_type == "mcts":
        sep = run.stop_words[0] if run.stop_words else DEFAULT_STEP_SEPARATOR
        # built at the first batch to sample: a resumed run with every batch done loads no model
        search = functools.cache(lambda: Search(run, engine.get(), template, tokenizer, judge, sep))
        return lambda batch: [result_row(p, search().search(p)) for p in batch]

    def render(prompt: Prompt) -> str:
        return template.render(prompt.messages, prompt.tools, generation=True)

    best_of_n = BestOfN(run, engine.get, render, judge, read_cache(run.cache_files))
    best_of_n.check_cached(prompts)
    return best_of_n.rows


def output_path(run: Any) -> Path:
    """`<output_dir>/<output_file>`; an existing file stops the run unless `--override_exist_file`."""
    name = run.output_file or time.strftime("%Y-%m-%d-%H-%M-%S") + ".jsonl"
    if Path(name).name != name or not name.endswith(".jsonl"):
        raise ArgumentError(
            f"--output_file {name}: a .jsonl file name without a folder (the folder is --output_dir)"
        )
    target = Path(run.groups["common"].output_dir or "sample_output") / name  # run.output_dir: a trainer's
    if target.exists() and not run.override_exist_file:
        raise ArgumentError(f"{target} exists; pass --override_exist_file true to replace it")
    return target


def write_rows(target: Path, rows: Sequence[dict[str, Any]]) -> None:
    """All rows as jsonl, written next to the target and renamed into place."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.writing")
    with staged.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    os.replace(staged, target)


def _template(run: Any) -> tuple[Any, Any]:
    """The tokenizer and the chat template the prompts are rendered with (no model loaded)."""
    from tunekite.api import build_template, load_tokenizer

    margs = run.groups["model"]
    tokenizer = load_tokenizer(run)
    template = build_template(
        tokenizer, run.groups["template"], margs.model, margs.model_type, host=run.plugin_host
    )
    return tokenizer, template


class _Lazy:
    """The run's engine, built on first use: scoring `--cache_files` loads no model."""

    def __init__(self, run: Any) -> None:
        self.run, self.engine = run, None

    def get(self) -> Any:
        if self.engine is None:
            self.engine = build_engine(self.run)
        return self.engine


def _chunks(items: Sequence[Prompt], size: int) -> Iterator[list[Prompt]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])
