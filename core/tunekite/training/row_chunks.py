"""A padding-free row trained a few samples at a time: the same step in less memory
(`--padding_free_chunk_tokens`).

A padding-free row of four samples holds the activations of all its tokens until its
backward pass; on a CPU those activations are most of a LoRA step's memory peak (issue 19:
about 1.2 GB per 1,024 tokens for SmolLM2-135M). The samples of such a row never attend to
one another, so the row can go through forward and backward in chunks of whole samples,
each chunk's loss divided by the trained tokens of the whole batch: the gradients add up
to the whole row's, and the optimizer steps once, as before. Only the peak changes, from
the row's tokens to the longest chunk's.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import torch

from tunekite.errors import ArgumentError


def row_chunks(inputs: dict[str, Any], budget: int) -> list[dict[str, Any]] | None:
    """`inputs` cut between samples into chunks of at most `budget` tokens (a longer sample
    is a chunk of its own); None when it is not one row of several samples (samples are
    marked by `position_ids` that do not follow on, transformers' own rule) or already
    fits the budget. A row that carries anything but per-token tensors (images, ...)
    cannot be cut and is refused."""
    positions = inputs.get("position_ids")
    if positions is None or positions.dim() != 2 or positions.shape[0] != 1:
        return None
    size = positions.shape[1]
    if size <= budget:
        return None
    for name, value in inputs.items():
        if not isinstance(value, torch.Tensor) or value.shape[:2] != (1, size):
            raise ArgumentError(
                f"--padding_free_chunk_tokens: the batch's {name!r} is not one value per token, "
                "so the row cannot be cut between samples"
            )
    row = positions[0]
    starts = [0, *((row[1:] != row[:-1] + 1).nonzero().squeeze(-1) + 1).tolist(), size]
    cuts = [0]
    for start, end in pairwise(starts[1:]):
        if end - cuts[-1] > budget:
            cuts.append(start)
    if len(cuts) == 1:
        return None
    cuts.append(size)
    return [{name: value[:, a:b] for name, value in inputs.items()} for a, b in pairwise(cuts)]
