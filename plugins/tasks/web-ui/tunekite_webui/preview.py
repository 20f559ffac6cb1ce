"""Encoded rows as `tk data preview` shows them: the template's text of each row, split
into runs of tokens by their loss weight (not trained, trained, weight above 1)."""

from __future__ import annotations

from typing import Any

TRAINED, WEIGHTED = "trained", "weight > 1"


def label(weight: float) -> str | None:
    """A run of tokens' label in the page's highlight: none for tokens that are not trained."""
    return None if weight == 0 else (TRAINED if weight == 1 else WEIGHTED)


def encoded_rows(run: Any, count: int) -> list[tuple[str, list[tuple[str, str | None]]]]:
    """For the first `count` rows of the run's datasets: a heading and the highlighted
    segments (`(text, label)`, gradio's HighlightedText value)."""
    from tunekite.api import preview_rows

    return [
        (heading, [(text, label(weight)) for text, weight in segments or []])
        for heading, segments in preview_rows(run, count)
    ]
