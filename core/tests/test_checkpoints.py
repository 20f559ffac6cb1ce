"""What core lends every trainer (sft's and plugins'): atomic, self-describing checkpoints
in front of any transformers Trainer, and its arguments from the run's training group."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from tunekite.api import ArgumentError


def fake_run(tmp_path: Path, **training: object) -> SimpleNamespace:
    from tunekite.arguments.groups import TrainingArguments

    group = TrainingArguments(**training)
    return SimpleNamespace(
        groups={"training": group}, seed=7, data_seed=8, max_length=64, output_dir=tmp_path
    )


def test_training_config_maps_the_training_group_onto_any_config_class(tmp_path):
    from transformers import TrainingArguments

    from tunekite.training.hf_args import training_config

    @dataclasses.dataclass
    class WithMaxLength(TrainingArguments):
        max_length: int | None = None
        beta: float = 0.1

    run = fake_run(tmp_path, max_steps=3, save_steps=2, report_to=["none"])
    config = training_config(
        WithMaxLength, run, tmp_path, has_eval=True, model_dtype=torch.bfloat16, beta=0.5
    )
    assert (config.max_length, config.beta, config.max_steps, config.seed) == (64, 0.5, 3, 7)
    assert config.bf16 and not config.fp16 and config.eval_steps == 2 and config.report_to == []
    with pytest.raises(TypeError, match="no field"):
        training_config(TrainingArguments, run, tmp_path, has_eval=False, not_a_field=1)


def test_atomic_checkpoints_describe_then_rename_in_front_of_any_trainer(tmp_path):
    from transformers import Trainer, TrainingArguments

    from tunekite.testing import tiny_causal_lm
    from tunekite.training.checkpoints import AtomicCheckpoints, load_weights

    class Atomic(AtomicCheckpoints, Trainer):
        pass

    seen: list[tuple[Path, bool]] = []

    def describe(folder: Path) -> None:
        seen.append((folder, (folder / "trainer_state.json").exists()))
        (folder / "args.json").write_text("{}")

    ids = torch.randint(0, 128, (4, 8), generator=torch.Generator().manual_seed(0))
    rows = [{"input_ids": row, "labels": row} for row in ids]
    args = TrainingArguments(
        output_dir=str(tmp_path),
        use_cpu=True,
        report_to=[],
        max_steps=3,
        save_steps=1,
        save_total_limit=2,
        per_device_train_batch_size=2,
    )
    trainer = Atomic(model=tiny_causal_lm(), args=args, train_dataset=rows, describe_checkpoint=describe)
    trainer.train()
    assert [(f.parent.name, f.name, whole) for f, whole in seen] == [
        (".staging", f"checkpoint-{n}", True) for n in (1, 2, 3)
    ]
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert (tmp_path / "checkpoint-3" / "args.json").is_file()
    assert not (tmp_path / ".staging").exists()
    load_weights(tiny_causal_lm(seed=1), tmp_path / "checkpoint-3")
    with pytest.raises(ArgumentError, match="no model or adapter weights"):
        load_weights(tiny_causal_lm(), tmp_path)


def test_commit_checkpoint_stages_renames_and_rotates_for_a_trainer_of_its_own(tmp_path):
    """What PPO, which has no transformers Trainer, gets: the folder appears whole, is
    described while staged, and only the newest `save_total_limit` stay."""
    from tunekite.training.checkpoints import commit_checkpoint

    described = []

    def write(folder: Path) -> None:
        assert folder == tmp_path / ".staging" / folder.name and not (tmp_path / folder.name).exists()
        (folder / "weights.bin").write_bytes(b"w")

    for step in (1, 2, 3):
        final = commit_checkpoint(
            tmp_path, step, write, describe=lambda f: described.append(f.parent.name), save_total_limit=2
        )
        assert final == tmp_path / f"checkpoint-{step}" and (final / "weights.bin").is_file()
    assert described == [".staging"] * 3
    assert sorted(p.name for p in tmp_path.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]
    assert not (tmp_path / ".staging").exists()
