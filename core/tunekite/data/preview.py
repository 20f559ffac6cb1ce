"""`tk data preview`: encoded samples with trained tokens highlighted by weight."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from typing import Any


def styled_segments(tokenizer: Any, sample: dict[str, Any]) -> list[tuple[str, float]]:
    """Decoded runs of consecutive tokens that share a loss weight."""
    runs = []
    for weight, group in itertools.groupby(
        zip(sample["input_ids"], sample["loss_scale"], strict=True), key=lambda p: p[1]
    ):
        runs.append((tokenizer.decode([token for token, _ in group], skip_special_tokens=False), weight))
    return runs


def _style(weight: float) -> str:
    return "dim" if weight == 0 else ("bold green" if weight == 1 else "bold magenta")


def preview_rows(run: Any, count: int) -> Iterator[tuple[str, list[tuple[str, float]] | None]]:
    """The first `count` rows of the run's datasets encoded by its template: a heading and
    the decoded runs of tokens with their loss weight (None for a row dropped as too long)."""
    from tunekite.data.loading import load_datasets
    from tunekite.models.loader import load_tokenizer
    from tunekite.templates.resolve import build_template

    model = run.groups["model"]
    tokenizer = load_tokenizer(run)
    template = build_template(
        tokenizer, run.groups["template"], model.model, model.model_type, host=run.plugin_host
    )
    data_args = dataclasses.replace(run.groups["data"], split_dataset_ratio=0.0)
    train, _, _ = load_datasets(data_args, host=run.plugin_host)
    for index, row in enumerate(itertools.islice(iter(train), count)):
        sample = template.encode(row)
        if sample is None:
            yield f"sample {index}: longer than --max_length {template.max_length}, dropped", None
            continue
        trained = sum(label != -100 for label in sample["labels"])
        heading = f"sample {index}: {sample['length']} tokens, {trained} trained"
        yield heading, styled_segments(tokenizer, sample)


def preview(run: Any) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.text import Text

    console = Console(highlight=False)
    console.print("legend: [dim]not trained[/] [bold green]trained[/] [bold magenta]weight > 1[/]")
    for heading, segments in preview_rows(run, run.preview_samples):
        if segments is None:
            console.print(f"[bold]{escape(heading)}[/]")
            continue
        console.rule(heading)
        text = Text()
        for segment, weight in segments:
            text.append(segment, style=_style(weight))
        console.print(text)
    return 0
