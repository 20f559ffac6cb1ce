"""Packing: rows within max_length, samples intact, attention kept inside each sample."""

from __future__ import annotations

import random

import pytest

from tunekite.data.collate import PaddingFreeCollator
from tunekite.data.errors import DatasetError
from tunekite.data.packing import PackingReport, pack_dataset, pack_lengths, pack_samples
from tunekite.templates.encoder import Template
from tunekite.templates.format import ChatFormat
from tunekite.testing import tiny_causal_lm, tiny_tokenizer

IGNORE = -100


def sample(length: int, seed: int) -> dict:
    """An encoded sample whose first half is prompt (untrained) and second half reply."""
    rng = random.Random(seed)
    ids = [rng.randrange(128) for _ in range(length)]
    scale = [0.0] * (length // 2) + [rng.choice([1.0, 2.0]) for _ in range(length - length // 2)]
    labels = [t if w > 0 else IGNORE for t, w in zip(ids, scale, strict=True)]
    return {"input_ids": ids, "labels": labels, "loss_scale": scale, "length": length}


def samples(count: int = 200, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [sample(rng.randint(1, 100), seed * 10_000 + i) for i in range(count)]


def test_rows_hold_every_sample_once_within_max_length() -> None:
    lengths = [s["length"] for s in samples()]
    groups = pack_lengths(lengths, 128)
    assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in g) <= 128 for g in groups)
    # a lower bound on the row count is ceil(total / max_length); best-fit gets close
    assert len(groups) <= -(-sum(lengths) // 128) + 2


def test_efficiency_figure() -> None:
    rows, report = pack_samples([sample(n, n) for n in (60, 40, 30, 20, 10, 8)], 100)
    assert report == PackingReport(samples=6, rows=2, tokens=168, max_length=100)
    assert report.efficiency == pytest.approx(0.84)
    assert sorted(r["length"] for r in rows) == [68, 100]
    assert "\n" not in str(report) and "84.0%" in str(report)


def test_overlong_sample_is_an_error_naming_it() -> None:
    with pytest.raises(DatasetError, match="sample 2 has 130 tokens, more than max_length 128"):
        pack_lengths([10, 128, 130, 5], 128)


def test_deterministic_for_a_seed() -> None:
    lengths = [s["length"] for s in samples()]
    assert pack_lengths(lengths, 128, seed=3) == pack_lengths(lengths, 128, seed=3)
    assert pack_lengths(lengths, 128, seed=3) != pack_lengths(lengths, 128, seed=4)


def test_packed_row_keeps_labels_and_loss_scale_aligned() -> None:
    data = samples(50)
    rows, _ = pack_samples(data, 256)
    seen = 0
    for row in rows:
        columns = ("input_ids", "labels", "loss_scale", "position_ids")
        assert len({len(row[c]) for c in columns}) == 1
        starts = [i for i, p in enumerate(row["position_ids"]) if p == 0]
        for start, end in zip(starts, [*starts[1:], row["length"]], strict=True):
            ids = row["input_ids"][start:end]
            original = next(s for s in data if s["input_ids"] == ids)
            assert row["position_ids"][start:end] == list(range(end - start))
            # the first token is never predicted inside its sample, so it is not trained
            assert row["labels"][start:end] == [IGNORE, *original["labels"][1:]]
            assert row["loss_scale"][start:end] == [0.0, *original["loss_scale"][1:]]
            seen += 1
        for label, scale, token in zip(row["labels"], row["loss_scale"], row["input_ids"], strict=True):
            assert (label == IGNORE) == (scale == 0) and label in (IGNORE, token)
    assert seen == len(data)


def test_dataset_packs_like_the_list() -> None:
    import datasets

    data = samples(300)
    dataset = datasets.Dataset.from_list(data)
    packed, report = pack_dataset(dataset, 128, seed=1, batch_size=16)
    rows, expected = pack_samples(data, 128, seed=1)
    assert isinstance(packed, datasets.Dataset)
    assert report == expected
    assert packed.to_list() == rows


def test_encoded_conversations_pack() -> None:
    chat = ChatFormat(
        name="test-chat",
        user="<|im_start|>user\n{content}<|im_end|>\n",
        assistant_header="<|im_start|>assistant\n",
        assistant_end="<|im_end|>",
        turn_sep="\n",
    )
    template = Template.create(chat, tiny_tokenizer(special_tokens=("<|im_start|>", "<|im_end|>")))
    conversation = [{"role": "user", "content": "hi there"}, {"role": "assistant", "content": "hello"}]
    encoded = [template.encode({"messages": conversation}) for _ in range(3)]
    size = encoded[0]["length"]
    assert any(label != IGNORE for label in encoded[0]["labels"])
    rows, report = pack_samples(encoded, 2 * size)
    assert report.rows == 2 and report.efficiency == pytest.approx(0.75)
    assert encoded[0]["labels"][0] == IGNORE  # the prompt's first token: packing changes no label
    assert sorted(row["labels"] for row in rows) == [encoded[0]["labels"], encoded[0]["labels"] * 2]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_packed_logits_equal_each_sample_alone(attention: str) -> None:
    """The key property: a padding-free packed row computes each sample as if alone."""
    import torch

    model = tiny_causal_lm().eval()
    model.set_attn_implementation(attention)
    data = [sample(n, n) for n in (9, 23, 14)]
    rows, report = pack_samples(data, 64)
    assert report.rows == 1
    batch = PaddingFreeCollator()(rows)
    assert "attention_mask" not in batch
    ids, positions = batch["input_ids"], batch["position_ids"]
    with torch.no_grad():
        packed = model(input_ids=ids, position_ids=positions, use_cache=False).logits[0]
        alone = {
            tuple(s["input_ids"]): model(input_ids=torch.tensor([s["input_ids"]]), use_cache=False).logits[0]
            for s in data
        }
        expected = torch.cat([alone[tuple(rows[0]["input_ids"][a:b])] for a, b in _spans(rows[0])])
        assert (packed - expected).abs().max() < 1e-5

        # controls, so the test can fail: positions running on through the row, or a KV
        # cache (transformers then ignores the restarts), let attention cross samples
        running = model(input_ids=ids, use_cache=False).logits[0]
        assert (running - expected).abs().max() > 1e-2
        cached = model(input_ids=ids, position_ids=positions, use_cache=True).logits[0]
        assert (cached - expected).abs().max() > 1e-2


def _spans(row: dict) -> list[tuple[int, int]]:
    starts = [i for i, p in enumerate(row["position_ids"]) if p == 0]
    return list(zip(starts, [*starts[1:], row["length"]], strict=True))
