"""A tuner that looks at training batches when it is created (`TunerSpec.uses_training_batches`)
and rewrites its saved checkpoints (`TunerSpec.checkpoint_converter`): what sft gives it, what
the checkpoint records, and the refusal to resume from a converted checkpoint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tunekite.api import ArgumentError, TrainingBatches, TunerSpec, hookimpl, start
from tunekite.constants import IGNORE_INDEX

SEEN: dict[str, Any] = {}
MARK = "converted.txt"


def looking(model: Any, args: Any, common: Any, batches: Any) -> Any:
    SEEN["batches"] = batches
    return model


def converting(model: Any, folder: Path) -> bool:
    (folder / MARK).write_text(type(model).__name__, encoding="utf-8")
    return True


@hookimpl
def tk_register_tuners(register: Any) -> None:
    register(
        TunerSpec(
            name="looker",
            summary="a test tuner that reads training batches and converts its checkpoints",
            factory=looking,
            uses_training_batches=True,
            checkpoint_converter=converting,
        )
    )


Looker = type("Looker", (), {"tk_register_tuners": staticmethod(tk_register_tuners)})


def test_batches_are_cut_padded_and_wrap_around() -> None:
    samples = [{"input_ids": [5, 6, 7], "labels": [IGNORE_INDEX, 6, 7], "loss_scale": [0.0, 1.0, 1.0]},
               {"input_ids": [8], "labels": [8], "loss_scale": [1.0]}]  # fmt: skip
    first, second = TrainingBatches(samples, pad_token_id=0).take(2, 2, max_length=2)
    assert first["input_ids"].tolist() == [[5, 6], [8, 0]]
    assert first["labels"].tolist() == [[IGNORE_INDEX, 6], [8, IGNORE_INDEX]]
    assert first["attention_mask"].tolist() == [[1, 1], [1, 0]]
    assert "loss_scale" not in first, "the model's forward takes no loss_scale"
    assert second["input_ids"].tolist() == first["input_ids"].tolist(), "a small set starts over"


def test_packed_rows_become_one_flat_row_with_positions() -> None:
    packed = [{"input_ids": [1, 2, 3, 4], "labels": [1, 2, 3, 4], "position_ids": [0, 1, 0, 1]}]
    (batch,) = TrainingBatches(packed, pad_token_id=0).take(1, 1, max_length=3)
    assert batch["input_ids"].tolist() == [[1, 2, 3]]
    assert batch["position_ids"].tolist() == [[0, 1, 0]]
    assert "attention_mask" not in batch


def test_an_empty_training_set_is_named() -> None:
    with pytest.raises(ArgumentError, match="the training set is empty"):
        TrainingBatches([], pad_token_id=0).take(1, 1, 8)


def test_sft_gives_the_batches_and_converts_each_checkpoint(
    tk_plugins: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from tunekite.testing import save_tiny_chat_model

    monkeypatch.chdir(tmp_path)
    tk_plugins.add(Looker, name="looker")
    model = save_tiny_chat_model(tmp_path / "tiny-chat")
    data = tmp_path / "chat.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"hello {i}"}, {"role": "assistant", "content": "hi"}]}
            for i in range(4)]  # fmt: skip
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    sft = ["--model", str(model), "--dataset", str(data), "--tuner", "looker", "--add_version", "false",
           "--report_to", "none", "--split_dataset_ratio", "0", "--max_steps", "1"]  # fmt: skip
    start("sft", [*sft, "--output_dir", "run"])

    (batch,) = SEEN["batches"].take(1, 2, max_length=64)
    assert batch["input_ids"].shape[0] == 2 and (batch["labels"] != IGNORE_INDEX).any()
    checkpoint = tmp_path / "run" / "checkpoint-1"
    assert (checkpoint / MARK).read_text(encoding="utf-8") == "LlamaForCausalLM"
    assert json.loads((checkpoint / "args.json").read_text())["tunekite"]["checkpoint"]["adapter_converted"]
    refused = r"^--resume_from_checkpoint .*checkpoint-1: its adapter was converted .*with --adapters"
    with pytest.raises(ArgumentError, match=refused):
        start("sft", [*sft, "--output_dir", "again", "--resume_from_checkpoint", str(checkpoint)])
    assert not (tmp_path / "again").exists()
