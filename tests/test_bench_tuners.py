"""bench/tuners.py's pure parts: reading a run's logging.jsonl, recording a check's outcome
and the README table (the bench run itself is `make bench-tuners`, not CI)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "bench_tuners", Path(__file__).resolve().parents[1] / "bench" / "tuners.py"
)
tuners = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tuners)


def test_first_and_last_loss_and_runtime_come_from_the_log_records() -> None:
    log = "\n".join(
        json.dumps(r)
        for r in [
            {"step": 1, "loss": 2.5, "learning_rate": 1e-4},
            {"step": 2, "grad_norm": 1.0},
            {"step": 2, "loss": 2.25},
            {"step": 3, "loss": 1.75},
            {"train_runtime": 12.5, "train_loss": 2.1},
        ]
    )
    assert tuners.losses_and_runtime(log + "\n\n") == (2.5, 1.75, 12.5)


def test_a_log_without_losses_is_refused() -> None:
    with pytest.raises(ValueError, match="no loss or no train_runtime"):
        tuners.losses_and_runtime(json.dumps({"train_runtime": 3.0}))


def test_a_failed_check_keeps_its_last_line() -> None:
    assert tuners.outcome(0, "whatever") == "yes"
    refusal = "loading...\nError: --merge_lora: prompt tuning has no weights to merge\n\n"
    assert tuners.outcome(1, refusal) == "no (Error: --merge_lora: prompt tuning has no weights to merge)"
    assert tuners.outcome(137, "") == "no (exit 137)"


def test_markdown_has_one_row_per_tuner_in_the_columns_order() -> None:
    results = {
        "tuners": [
            {"tuner": "lora", "trains": "yes", "trainable_params": 4884480, "s_per_step": 1.2,
             "peak_rss_mb": 900.5, "first_loss": 3.123456789, "last_loss": 2.9, "infer": "yes",
             "merge": "yes"},
            {"tuner": "prompt_tuning", "trains": "no (boom)", "merge": "no (a | b)"},
        ]
    }  # fmt: skip
    lines = tuners.markdown(results).splitlines()
    assert lines[0] == "| " + " | ".join(tuners.COLUMNS) + " |"
    assert lines[1].count("---") == len(tuners.COLUMNS)
    assert lines[2] == "| lora | yes | 4,884,480 | 1.2 | 900.5 | 3.123 | 2.9 | yes | yes |"
    assert lines[3].startswith("| prompt_tuning |") and "no (a \\| b)" in lines[3]
    assert len(lines) == 4


def test_an_infer_run_counts_only_with_one_non_empty_answer(tmp_path) -> None:
    answers = tmp_path / "answers.jsonl"
    assert not tuners.answered(answers)
    answers.write_text(json.dumps({"response": "  "}) + "\n")
    assert not tuners.answered(answers)
    answers.write_text(json.dumps({"response": "Hello"}) + "\n")
    assert tuners.answered(answers)


def test_lora_qlora_and_full_run_first_then_the_rest_alphabetically() -> None:
    order = tuners.bench_order(["vera", "full", "adalora", "lora", "galore"])
    assert order == ["lora", "qlora", "full", "adalora", "galore", "lora_ga", "vera"]
    assert tuners.bench_order(["ia3", "full"]) == ["full", "ia3"]  # no lora, so no qlora or lora_ga row
