"""`tk run infer` and `tk run export` on a checkpoint that `tk run sft` made (tiny model)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import TK
from tunekite.run import start
from tunekite.testing import save_tiny_chat_model

pytest.importorskip("tunekite_lora")
pytest.importorskip("tunekite_chatml")


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path]:
    """(base model folder, checkpoint) after a few steps of LoRA with non-zero B matrices."""
    root = tmp_path_factory.mktemp("infer")
    model = save_tiny_chat_model(root / "tiny-chat")
    data = root / "data.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"say {i}"}, {"role": "assistant", "content": f"{i}!"}]}
        for i in range(16)
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    start(
        "sft",
        [
            "--model",
            str(model),
            "--dataset",
            str(data),
            "--output_dir",
            str(root / "run"),
            "--add_version",
            "false",
            "--max_steps",
            "3",
            "--learning_rate",
            "1e-2",
            "--report_to",
            "none",
            "--gradient_checkpointing",
            "false",
            "--template",
            "chatml",
            "--split_dataset_ratio",
            "0",
        ],
    )
    return model, root / "run" / "checkpoint-3"


def test_merged_model_logits_equal_the_adapter_models(trained, tmp_path):
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model_dir, checkpoint = trained
    merged_dir = tmp_path / "merged"
    start(
        "export",
        [
            "--adapters",
            str(checkpoint),
            "--merge_lora",
            "true",
            "--merged_dir",
            str(merged_dir),
            "--output_dir",
            str(tmp_path / "export-run"),
        ],
    )
    ids = torch.randint(0, 300, (2, 16), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        adapted = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model_dir), checkpoint)
        base_logits = AutoModelForCausalLM.from_pretrained(model_dir)(ids).logits
        adapter_logits = adapted(ids).logits
        merged_logits = AutoModelForCausalLM.from_pretrained(merged_dir)(ids).logits
    assert (adapter_logits - base_logits).abs().max() > 1e-3, (
        "the adapter changes nothing: the test would be vacuous"
    )
    assert (merged_logits - adapter_logits).abs().max() < 1e-4
    assert (merged_dir / "tokenizer.json").is_file() and not list(tmp_path.glob(".merged.tmp"))


def test_export_needs_merge_lora_and_adapters(trained, tmp_path):
    from tunekite.errors import ArgumentError

    with pytest.raises(ArgumentError, match="--merge_lora true"):
        start("export", ["--adapters", str(trained[1]), "--output_dir", str(tmp_path)])
    with pytest.raises(ArgumentError, match="needs --adapters"):
        start("export", ["--model", str(trained[0]), "--merge_lora", "true", "--output_dir", str(tmp_path)])


def test_batch_infer_reads_the_base_model_from_args_json(trained, tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"messages": [{"role": "user", "content": "say 3"}, {"role": "assistant", "content": "3!"}]},
                {"messages": [{"role": "user", "content": "say 5"}]},
            ]
        ),
        encoding="utf-8",
    )
    result = tmp_path / "answers.jsonl"
    start(
        "infer",
        [
            "--adapters",
            str(trained[1]),
            "--val_dataset",
            str(questions),
            "--max_batch_size",
            "2",
            "--temperature",
            "0",
            "--max_new_tokens",
            "6",
            "--result_path",
            str(result),
            "--output_dir",
            str(tmp_path / "infer-run"),
        ],
    )
    records = [json.loads(line) for line in result.read_text().splitlines()]
    assert [r["labels"] for r in records] == ["3!", None]
    assert [r["messages"][-1]["content"] for r in records] == ["say 3", "say 5"]
    assert all(isinstance(r["response"], str) for r in records)


def test_interactive_chat_keeps_history_until_clear(trained, tmp_path):
    lines = "say 1\nsay 2\nclear\nsay 3\nexit\n"
    result = subprocess.run(
        [
            TK,
            "run",
            "infer",
            "--adapters",
            str(trained[1]),
            "--temperature",
            "0",
            "--max_new_tokens",
            "4",
            "--output_dir",
            str(tmp_path),
        ],
        input=lines,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("<<< ") == 5 and "history cleared" in result.stdout


def test_infer_without_model_or_adapters_says_what_to_pass(tmp_path):
    from tunekite.errors import ArgumentError

    with pytest.raises(ArgumentError, match="pass --model"):
        start("infer", ["--output_dir", str(tmp_path)])
