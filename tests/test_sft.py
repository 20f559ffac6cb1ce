"""`tk run sft` / `pt` end to end on a tiny model: outputs, resume, atomic checkpoints.

Cross-distribution: the LoRA tuner and the ChatML template are plugins.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import quick_sft_argv
from tunekite.api import checkpoint_description, start


def sft(model_dir: Path, data: Path, out: Path, *extra: str) -> dict:
    return start("sft", quick_sft_argv(model_dir, data, out, "--per_device_train_batch_size", "4", *extra))


def losses(result: dict) -> dict[int, float]:
    return {h["step"]: h["loss"] for h in result["log_history"] if "loss" in h}


def test_lora_sft_learns_and_leaves_standard_artifacts(model_dir, data_file, tmp_path):
    out = tmp_path / "run"
    result = sft(
        model_dir,
        data_file,
        out,
        "--max_steps",
        "12",
        "--save_steps",
        "6",
        "--learning_rate",
        "5e-3",
        "--create_checkpoint_symlink",
        "true",
        "--split_dataset_ratio",
        "0.1",
    )
    curve = losses(result)
    assert curve[12] < curve[1] - 0.1, curve
    for name in ("args.json", "run_manifest.json", "logging.jsonl", "images/train_loss.png"):
        assert (out / name).is_file(), name
    assert sorted(p.name for p in out.glob("checkpoint-*")) == ["checkpoint-12", "checkpoint-6"]
    assert (out / "last").resolve() == (out / "checkpoint-12").resolve()
    assert (out / "best").is_symlink()
    logged = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    assert any("token_acc" in r for r in logged) and any("eval_loss" in r for r in logged)
    manifest = json.loads((out / "run_manifest.json").read_text())
    assert manifest["datasets"][str(data_file)] == hashlib.sha256(data_file.read_bytes()).hexdigest()
    assert manifest["libraries"]["transformers"] and "tunekite-lora" in json.dumps(manifest["plugins"])
    described = checkpoint_description(out / "checkpoint-12")
    assert described["tuner"] == {"name": "lora", "distribution": "tunekite-lora", "version": "0.1.0"}
    assert described["template"] == "chatml" and described["trainer"] == "sft"
    assert json.loads((out / "checkpoint-12" / "args.json").read_text())["lora_rank"] == 8
    assert (out / "checkpoint-12" / "args.json").is_file()
    assert not (out / ".staging").exists()

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_dir)
    assert isinstance(PeftModel.from_pretrained(base, out / "checkpoint-12"), PeftModel)


def logged_losses(folder: Path) -> list[tuple[int, float]]:
    """(step, loss) of each training log in `logging.jsonl`, in the order written."""
    records = [json.loads(line) for line in (folder / "logging.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"]) for r in records if "loss" in r]


def test_resume_continues_the_same_loss_curve(model_dir, data_file, tmp_path):
    """Resuming into the run's own folder from checkpoint-4 trains and logs only steps 5-8,
    on the checkpoint's weights: the same losses as the run that went through, and the
    first run's records of steps 1-4 kept (a run that ignored the checkpoint would start
    `logging.jsonl` afresh)."""
    out = tmp_path / "run"
    common = ("--max_steps", "8", "--save_steps", "4", "--learning_rate", "5e-3")
    sft(model_dir, data_file, out, *common)
    whole = logged_losses(out)
    assert [step for step, _ in whole] == list(range(1, 9))
    shutil.rmtree(out / "checkpoint-8")  # as if the run had stopped after checkpoint-4
    log = out / "logging.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text("".join(json.dumps({**r, "first_run": True}) + "\n" for r in records if r["step"] <= 4))
    result = sft(model_dir, data_file, out, *common, "--resume_from_checkpoint", str(out / "checkpoint-4"))
    assert result["last_checkpoint"] == out / "checkpoint-8"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in records if "loss" in r] == list(range(1, 9))
    assert all(bool(r.get("first_run")) == (r["step"] <= 4) for r in records), records
    for (step, loss), (_, expected) in zip(logged_losses(out)[4:], whole[4:], strict=True):
        assert loss == pytest.approx(expected, abs=1e-4), (step, whole)


def test_resume_only_model_starts_a_new_schedule_from_trained_weights(model_dir, data_file, tmp_path):
    whole = sft(
        model_dir,
        data_file,
        tmp_path / "whole",
        "--max_steps",
        "6",
        "--save_steps",
        "6",
        "--learning_rate",
        "5e-3",
    )
    again = sft(
        model_dir,
        data_file,
        tmp_path / "again",
        "--max_steps",
        "2",
        "--learning_rate",
        "5e-3",
        "--resume_from_checkpoint",
        str(tmp_path / "whole" / "checkpoint-6"),
        "--resume_only_model",
        "true",
    )
    first, second = losses(whole), losses(again)
    assert sorted(second) == [1, 2], "a new schedule starts at step 1"
    assert second[1] < first[1] - 0.05, (first, second)  # the weights came from checkpoint-6


def test_a_checkpoint_that_fails_half_way_never_appears(model_dir, data_file, tmp_path, monkeypatch):
    import tunekite.training.outputs as outputs

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(outputs, "describe_checkpoint", crash)
    out = tmp_path / "crashed"
    with pytest.raises(KeyboardInterrupt):
        sft(model_dir, data_file, out, "--max_steps", "4", "--save_steps", "2")
    assert not list(out.glob("checkpoint-*")), "a half-written checkpoint is visible"
    from transformers.trainer_utils import get_last_checkpoint

    assert get_last_checkpoint(str(out)) is None


def test_swift_style_command_line_runs_unchanged(model_dir, data_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    start(
        "sft",
        [
            "--model",
            str(model_dir),
            "--train_type",
            "lora",
            "--dataset",
            f"{data_file}#20",
            "--lora_rank",
            "8",
            "--num_train_epochs",
            "1",
            "--per_device_train_batch_size",
            "4",
            "--max_length",
            "512",
            "--report_to",
            "none",
            "--gradient_checkpointing",
            "false",
        ],
    )
    (version,) = (tmp_path / "output" / "tiny-chat").glob("v0-*")
    assert (version / "checkpoint-5" / "adapter_model.safetensors").is_file()  # 20 rows (19 after split) / 4


def test_packing_full_tuning_and_save_total_limit(model_dir, data_file, tmp_path):
    out = tmp_path / "packed"
    result = sft(
        model_dir,
        data_file,
        out,
        "--tuner",
        "full",
        "--packing",
        "true",
        "--max_length",
        "64",
        "--max_steps",
        "6",
        "--save_steps",
        "2",
        "--save_total_limit",
        "1",
        "--learning_rate",
        "1e-3",
    )
    curve = losses(result)
    assert curve[6] < curve[1], curve
    assert [p.name for p in out.glob("checkpoint-*")] == ["checkpoint-6"]
    assert (out / "checkpoint-6" / "model.safetensors").is_file()


def test_pt_trains_on_plain_text(model_dir, tmp_path):
    text = tmp_path / "text.jsonl"
    text.write_text(
        "\n".join(json.dumps({"text": f"the number {i} comes after {i - 1}."}) for i in range(40))
    )
    result = start(
        "pt",
        [
            "--model",
            str(model_dir),
            "--dataset",
            str(text),
            "--output_dir",
            str(tmp_path / "pt"),
            "--report_to",
            "none",
            "--gradient_checkpointing",
            "false",
            "--max_steps",
            "6",
            "--per_device_train_batch_size",
            "4",
            "--learning_rate",
            "5e-3",
            "--logging_steps",
            "1",
        ],
    )
    curve = losses(result)
    assert curve[6] < curve[1], curve
