"""Core's training arguments reach transformers through one explicit table, and do what
they say: a warm-up shows in the logged learning rates, grouping orders the batches."""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import pytest
import transformers

from tunekite import hookimpl
from tunekite.api import resolve, start
from tunekite.arguments.fields import fields_of
from tunekite.arguments.groups import TrainingArguments
from tunekite.errors import ArgumentError, TunekiteError
from tunekite.testing import save_tiny_chat_model
from tunekite.training.hf_args import DESTINATIONS, HF, Ours, Refused, training_config


def test_the_table_maps_every_training_argument_onto_this_transformers() -> None:
    assert set(DESTINATIONS) == {f.name for f in fields_of(TrainingArguments)}
    hf_fields = {f.name for f in dataclasses.fields(transformers.Seq2SeqTrainingArguments)}
    for f in fields_of(TrainingArguments):
        where = DESTINATIONS[f.name]
        assert isinstance(where, Refused) == bool(f.unsupported), f.name
        if isinstance(where, HF):
            assert any(name in hf_fields for name, _ in where.fields), f"{f.name}: no transformers field"
        if isinstance(where, Ours):
            assert where.reader == f.read_by if f.read_by else where.reader.startswith("tunekite."), f.name


def config(tmp_path: Path, *argv: str):
    run, _ = resolve("sft", ["--model", "some/model", "--tuner", "full", *argv])
    return training_config(transformers.TrainingArguments, run, tmp_path, has_eval=False)


def test_renamed_fields_reach_their_transformers_5_names(tk_plugins, tmp_path) -> None:
    got = config(
        tmp_path, "--warmup_ratio", "0.25", "--group_by_length", "true", "--gradient_checkpointing", "true"
    )
    assert got.warmup_steps == 0.25 and got.get_warmup_steps(100) == 25
    assert got.train_sampling_strategy == "group_by_length"
    assert config(tmp_path).train_sampling_strategy == "random"
    assert getattr(got, "activation_checkpointing", None) or got.gradient_checkpointing  # renamed in 5.23
    assert config(tmp_path, "--warmup_ratio", "0.25", "--warmup_steps", "3").warmup_steps == 3  # steps win
    with pytest.raises(ArgumentError, match=r"--warmup_ratio must be in \[0, 1\)"):
        config(tmp_path, "--warmup_ratio", "1.5")


def test_a_training_argument_without_a_destination_is_a_loud_error(tk_plugins, tmp_path, monkeypatch) -> None:
    monkeypatch.delitem(DESTINATIONS, "weight_decay")
    with pytest.raises(
        TunekiteError, match=r"'weight_decay' has no entry in tunekite\.training\.hf_args\.DESTINATIONS"
    ):
        config(tmp_path)


def test_a_destination_this_transformers_lacks_is_a_loud_error(tk_plugins, tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(DESTINATIONS, "weight_decay", HF((("weight_decay_v9", None),)))
    with pytest.raises(TunekiteError, match="--weight_decay: TrainingArguments has no field weight_decay_v9"):
        config(tmp_path)


# -- end to end on a tiny model ------------------------------------------------------------


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """48 rows of 1 to 48 repeated words, in scrambled order."""
    counts = [(7 * i) % 48 + 1 for i in range(48)]
    rows = [
        {
            "messages": [
                {"role": "user", "content": " ".join(["kite"] * n)},
                {"role": "assistant", "content": "ok"},
            ]
        }
        for n in counts
    ]
    path = tmp_path_factory.mktemp("data") / "lengths.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def sft(model_dir: Path, data: Path, out: Path, *extra: str) -> dict:
    argv = [
        "--model", str(model_dir), "--dataset", str(data), "--output_dir", str(out), "--add_version", "false",
        "--tuner", "full", "--template", "default", "--report_to", "none",
        "--gradient_checkpointing", "false", "--logging_steps", "1",
        "--per_device_train_batch_size", "4", "--split_dataset_ratio", "0",
        "--save_strategy", "no", "--learning_rate", "1e-3", *extra,
    ]  # fmt: skip
    return start("sft", argv)


def test_warmup_ratio_shows_a_warmup_in_the_logged_learning_rates(
    tk_plugins, model_dir, data_file, tmp_path
) -> None:
    sft(model_dir, data_file, tmp_path, "--warmup_ratio", "0.5", "--max_steps", "10")
    logged = [json.loads(line) for line in (tmp_path / "logging.jsonl").read_text().splitlines()]
    rates = [r["learning_rate"] for r in logged if "learning_rate" in r]
    assert len(rates) == 10
    # Each step logs the rate it trained with: 0 at step 1, rising over 5 warm-up steps to the
    # peak at step 6, then the cosine decay.
    assert rates[:6] == pytest.approx([0.0, 2e-4, 4e-4, 6e-4, 8e-4, 1e-3]), rates
    assert all(a > b for a, b in itertools.pairwise(rates[5:])), rates


def batch_lengths(tk_plugins, model_dir, data_file, out, *extra) -> list[int]:
    """The padded length of each batch the trainer's dataloader yields, in order (padded
    batches, as asked: a CPU's default would be padding-free rows)."""
    from transformers import TrainerCallback

    seen: list[int] = []

    class Batches(TrainerCallback):
        def on_train_begin(self, args, state, control, train_dataloader=None, **kwargs):
            seen.extend(batch["input_ids"].shape[1] for batch in train_dataloader)

    @hookimpl
    def tk_train_callbacks(run):
        return [Batches()]

    tk_plugins.add(type("Spy", (), {"tk_train_callbacks": staticmethod(tk_train_callbacks)}))
    sft(model_dir, data_file, out, "--max_steps", "1", "--padding_free", "false", *extra)
    return seen


def test_group_by_length_orders_batches_by_length(tk_plugins, model_dir, data_file, tmp_path) -> None:
    """transformers' LengthGroupedSampler sorts 'megabatches' of len // (4 * batch) batches (48 rows
    in batches of 4: 3 batches), longest first; the longest row of all comes in the first batch."""
    grouped = batch_lengths(tk_plugins, model_dir, data_file, tmp_path / "a", "--group_by_length", "true")
    assert len(grouped) == 12 and grouped[0] == max(grouped)
    assert all(sorted_in_threes(grouped)), grouped


def test_without_group_by_length_batches_come_shuffled(tk_plugins, model_dir, data_file, tmp_path) -> None:
    shuffled = batch_lengths(tk_plugins, model_dir, data_file, tmp_path / "b", "--group_by_length", "false")
    assert len(shuffled) == 12 and not all(sorted_in_threes(shuffled)), shuffled


def sorted_in_threes(lengths: list[int]) -> list[bool]:
    return [lengths[i : i + 3] == sorted(lengths[i : i + 3], reverse=True) for i in range(0, len(lengths), 3)]


def test_the_sampler_transformers_builds_groups_by_length(tk_plugins, tmp_path) -> None:
    from datasets import Dataset
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from tunekite.testing import tiny_causal_lm
    from tunekite.training.hf_args import hf_training_arguments
    from tunekite.training.trainer import TunekiteTrainer

    rows = Dataset.from_list([{"input_ids": [1] * n, "length": n} for n in (3, 9, 1, 7)])
    run, _ = resolve("sft", ["--model", "m", "--tuner", "full", "--group_by_length", "true"])
    trainer = TunekiteTrainer(
        model=tiny_causal_lm(), args=hf_training_arguments(run, tmp_path, has_eval=False), train_dataset=rows
    )
    sampler = trainer._get_train_sampler()
    assert isinstance(sampler, LengthGroupedSampler) and sampler.lengths == [3, 9, 1, 7]
