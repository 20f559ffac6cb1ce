"""A few training batches for a tuner to look at before training starts (LoRA-GA estimates
the base weights' gradients on them), given through `TunerSpec.uses_training_batches`."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any

from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
from tunekite.errors import ArgumentError

_TOKEN_COLUMNS = ("input_ids", "labels", "position_ids")
"""Per-token columns of an encoded (or packed) sample that a batch keeps, cut alike."""


@dataclass(frozen=True)
class TrainingBatches:
    """The run's encoded training samples (what the trainer will read), batched on request.

    `samples` iterates encoded dicts (`Template.encode` output, or packed rows with
    `position_ids`); `pad_token_id` pads plain samples."""

    samples: Any
    pad_token_id: int

    @classmethod
    def for_tokenizer(cls, samples: Any, tokenizer: Any) -> TrainingBatches:
        """Batches of `samples`, padded with the tokenizer's pad id, else its EOS id, as the
        trainer pads; else 0, which is harmless: padding is masked and has no labels."""
        ids = (tokenizer.pad_token_id, tokenizer.eos_token_id)
        return cls(samples, next((i for i in ids if i is not None), 0))

    def take(self, count: int, batch_size: int, max_length: int) -> list[dict[str, Any]]:
        """`count` batches of `batch_size` samples each, from the first sample on (starting over
        when the set is smaller), every sample cut to its first `max_length` tokens. A batch
        holds what the model's forward takes to compute its own loss: `input_ids` and unshifted
        `labels`, with an `attention_mask`, or for packed rows one flat row with `position_ids`.
        The template's per-token `loss_scale` is left out: the model's plain loss is used."""
        if min(count, batch_size, max_length) < 1:
            got = (count, batch_size, max_length)
            raise ValueError(f"count, batch_size and max_length must be at least 1, got {got}")
        rows = [self._cut(row, max_length) for row in islice(cycle(self.samples), count * batch_size)]
        if not rows:
            raise ArgumentError("the training set is empty: there are no batches to initialise the tuner on")
        packed = "position_ids" in rows[0]
        collate = PaddingFreeCollator() if packed else PaddedCollator(self.pad_token_id)
        batches = [collate(rows[i : i + batch_size]) for i in range(0, len(rows), batch_size)]
        return [{k: v for k, v in batch.items() if k != "loss_scale"} for batch in batches]

    @staticmethod
    def _cut(row: Any, max_length: int) -> dict[str, list[Any]]:
        return {c: list(row[c])[:max_length] for c in _TOKEN_COLUMNS if c in row}
