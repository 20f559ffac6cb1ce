"""Collators: padded and padding-free batches keep labels and loss_scale on their tokens."""

from __future__ import annotations

import pytest

from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
from tunekite.data.packing import pack_samples
from tunekite.testing import tiny_causal_lm, tiny_tokenizer

IGNORE = -100


def sample(ids: list[int], trained_from: int) -> dict:
    scale = [0.0] * trained_from + [1.5] * (len(ids) - trained_from)
    labels = [t if w > 0 else IGNORE for t, w in zip(ids, scale, strict=True)]
    return {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": len(ids)}


A = sample([5, 6, 7, 8], 2)
B = sample([9, 10], 1)


def test_right_padding() -> None:
    batch = PaddedCollator(pad_token_id=0)([A, B])
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8], [9, 10, 0, 0]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 7, 8], [IGNORE, 10, IGNORE, IGNORE]]
    assert batch["loss_scale"].tolist() == [[0, 0, 1.5, 1.5], [0, 1.5, 0, 0]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 0, 0]]
    assert set(batch) == {"input_ids", "labels", "loss_scale", "attention_mask"}


def test_left_padding_and_multiple_of() -> None:
    batch = PaddedCollator(pad_token_id=3, padding_side="left", pad_to_multiple_of=3)([A, B])
    assert batch["input_ids"].tolist() == [[3, 3, 5, 6, 7, 8], [3, 3, 3, 3, 9, 10]]
    assert batch["labels"].tolist() == [[IGNORE] * 4 + [7, 8], [IGNORE] * 5 + [10]]
    assert batch["loss_scale"].tolist() == [[0] * 4 + [1.5, 1.5], [0] * 5 + [1.5]]
    assert batch["attention_mask"].tolist() == [[0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]]


def test_pad_id_from_the_tokenizer() -> None:
    tokenizer = tiny_tokenizer()
    assert PaddedCollator.for_tokenizer(tokenizer).pad_token_id == tokenizer.pad_token_id
    with pytest.raises(ValueError, match="padding_side"):
        PaddedCollator(0, padding_side="middle")


@pytest.mark.parametrize("side", ["right", "left"])
def test_padded_logits_equal_each_sample_alone(side: str) -> None:
    import torch

    model = tiny_causal_lm().eval()
    batch = PaddedCollator(0, padding_side=side)([A, B])
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        for row, feature in enumerate([A, B]):
            alone = model(input_ids=torch.tensor([feature["input_ids"]])).logits[0]
            kept = logits[row][batch["attention_mask"][row].bool()]
            assert (kept - alone).abs().max() < 1e-5


def test_padded_collator_refuses_packed_rows() -> None:
    rows, _ = pack_samples([A, B], 8)
    with pytest.raises(ValueError, match="PaddingFreeCollator"):
        PaddedCollator(0)(rows)


def test_padding_free_flattens_samples() -> None:
    batch = PaddingFreeCollator()([A, B])
    assert set(batch) == {"input_ids", "labels", "loss_scale", "position_ids"}
    assert batch["input_ids"].tolist() == [[5, 6, 7, 8, 9, 10]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1]]
    assert batch["labels"].tolist() == [[IGNORE, IGNORE, 7, 8, IGNORE, 10]]
    assert batch["loss_scale"].tolist() == [[0, 0, 1.5, 1.5, 0, 1.5]]


def test_padding_free_keeps_the_positions_of_packed_rows() -> None:
    """Two packed rows in one batch: every sample restarts at 0, not every row."""
    first = sample([1, 2, 3], 1)
    rows, _ = pack_samples([A, B, first], 5)
    batch = PaddingFreeCollator()(rows)
    positions = batch["position_ids"][0].tolist()
    assert positions.count(0) == 3 and len(positions) == 9
    labels, scale = batch["labels"][0].tolist(), batch["loss_scale"][0].tolist()
    assert [label == IGNORE for label in labels] == [w == 0 for w in scale]
    assert sorted(label for label in labels if label != IGNORE) == [2, 3, 7, 8, 10]


def test_padding_free_matches_transformers_flattening_collator() -> None:
    from transformers import DataCollatorWithFlattening

    theirs = DataCollatorWithFlattening()([{"input_ids": A["input_ids"], "labels": A["labels"]}, B])
    ours = PaddingFreeCollator()([A, B])
    for key in ("input_ids", "labels", "position_ids"):
        assert ours[key].tolist() == theirs[key].tolist(), key
