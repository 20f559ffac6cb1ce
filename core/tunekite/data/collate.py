"""Training batches from encoded samples: padded, or padding-free (one flat row).

Both are plain callables `(list[dict]) -> dict[str, torch.Tensor]` over `Template.encode`
dicts (or packed rows from `tunekite.data.packing`), keeping `loss_scale` aligned with
`labels` token for token.

Padding-free batches rely on transformers (checked on 5.23, Llama with sdpa and eager
attention) reading restarts in `position_ids` as sample boundaries. It does so
only when the model is called with no attention mask *and no KV cache*: run the model
with `use_cache=False` (the HF Trainer sets `config.use_cache` from
`TrainingArguments.use_cache`, False by default); with a cache the restarts are
ignored and attention crosses samples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tunekite.constants import IGNORE_INDEX

if TYPE_CHECKING:
    import torch

Features = Sequence[Mapping[str, Any]]


@dataclass(frozen=True)
class PaddedCollator:
    """Pads a batch to its longest sample: ids with the pad id, labels with -100,
    loss_scale with 0, and an attention mask that hides the padding."""

    pad_token_id: int
    padding_side: str = "right"
    pad_to_multiple_of: int | None = None

    def __post_init__(self) -> None:
        if self.padding_side not in ("right", "left"):
            raise ValueError(f"padding_side must be 'right' or 'left', got {self.padding_side!r}")

    @classmethod
    def for_tokenizer(
        cls, tokenizer: Any, padding_side: str = "right", pad_to_multiple_of: int | None = None
    ) -> PaddedCollator:
        """The tokenizer's pad id, or its EOS id for tokenizers without one (as ms-swift does)."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        if pad is None:
            raise ValueError("the tokenizer has neither a pad token nor an EOS token to pad with")
        return cls(pad, padding_side, pad_to_multiple_of)

    def __call__(self, features: Features) -> dict[str, torch.Tensor]:
        import torch

        if any("position_ids" in f for f in features):
            raise ValueError(
                "packed rows need PaddingFreeCollator: an attention mask would let attention cross "
                "the samples of a row"
            )
        width = max(len(f["input_ids"]) for f in features)
        if self.pad_to_multiple_of:
            width = -(-width // self.pad_to_multiple_of) * self.pad_to_multiple_of
        pads = {"input_ids": self.pad_token_id, "labels": IGNORE_INDEX, "loss_scale": 0.0}
        columns = {c: pad for c, pad in pads.items() if c in features[0]}
        batch: dict[str, list[list[Any]]] = {c: [] for c in [*columns, "attention_mask"]}
        for feature in features:
            size = len(feature["input_ids"])
            rows = {c: list(feature[c]) for c in columns} | {"attention_mask": [1] * size}
            for column, values in rows.items():
                fill = [columns.get(column, 0)] * (width - size)
                batch[column].append(values + fill if self.padding_side == "right" else fill + values)
        dtypes = {"loss_scale": torch.float32}
        return {c: torch.tensor(v, dtype=dtypes.get(c, torch.long)) for c, v in batch.items()}


@dataclass(frozen=True)
class PaddingFreeCollator:
    """Concatenates the batch into one row with `position_ids` restarting per sample, no mask.

    Like transformers' `DataCollatorWithFlattening` (each sample's first label becomes
    -100, so no token is predicted across a boundary), which is not used directly
    because it drops `loss_scale` and renumbers the positions of packed rows as if each
    were one sample; here a row's own `position_ids` are kept.
    """

    def __call__(self, features: Features) -> dict[str, torch.Tensor]:
        import torch

        input_ids: list[int] = []
        labels: list[int] = []
        loss_scale: list[float] = []
        position_ids: list[int] = []
        with_scale = "loss_scale" in features[0]
        for feature in features:
            size = len(feature["input_ids"])
            if not size:
                continue
            input_ids += feature["input_ids"]
            labels.append(IGNORE_INDEX)
            labels += feature["labels"][1:]
            if with_scale:
                loss_scale.append(0.0)
                loss_scale += feature["loss_scale"][1:]
            positions = feature.get("position_ids")
            position_ids += range(size) if positions is None else positions
        batch = {
            "input_ids": torch.tensor([input_ids], dtype=torch.long),
            "labels": torch.tensor([labels], dtype=torch.long),
            "position_ids": torch.tensor([position_ids], dtype=torch.long),
        }
        if with_scale:
            batch["loss_scale"] = torch.tensor([loss_scale], dtype=torch.float32)
        return batch
