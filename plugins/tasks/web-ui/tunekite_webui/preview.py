"""Encoded rows as `tk data preview` shows them: the template's text of each row, split
into runs of tokens by their loss weight (not trained, trained, weight above 1)."""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

NOT_TRAINED, TRAINED, WEIGHTED = "not trained", "trained", "weight > 1"


def label(weight: float) -> str | None:
    return None if weight == 0 else (TRAINED if weight == 1 else WEIGHTED)


def encoded_rows(run: Any, count: int) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """For the first `count` rows of the run's datasets: a heading and the highlighted
    segments (`(text, label)`, gradio's HighlightedText value)."""
    from tunekite.api import build_template, load_datasets, load_tokenizer, styled_segments

    model = run.groups["model"]
    tokenizer = load_tokenizer(run)
    template = build_template(
        tokenizer, run.groups["template"], model.model, model.model_type, host=run.plugin_host
    )
    data_args = dataclasses.replace(run.groups["data"], split_dataset_ratio=0.0)
    train, _, _ = load_datasets(data_args, host=run.plugin_host)
    shown = []
    for index, row in enumerate(itertools.islice(iter(train), count)):
        sample = template.encode(row)
        if sample is None:
            shown.append((f"sample {index}: longer than --max_length {template.max_length}, dropped", []))
            continue
        trained = sum(token != -100 for token in sample["labels"])
        segments = [(text, label(weight)) for text, weight in styled_segments(tokenizer, sample)]
        shown.append((f"sample {index}: {sample['length']} tokens, {trained} trained", segments))
    return shown
