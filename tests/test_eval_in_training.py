"""`--eval_dataset` in `tk run sft`: the native evaluator scores the model being trained at
each evaluation, the scores are logged as `eval_<dataset>_<metric>` and every answer is
written to `eval/<step>/`; the scores are those `tk run eval` gives the saved checkpoint."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tunekite.api import ArgumentError, TunekiteError, start
from tunekite.training.eval_datasets import metric_prefix

KEYS = {"eval_sums_exact_match", "eval_sums_rouge-l", "eval_sums_bleu-4"}
GENERATION = [
    "--eval_generation_config",
    '{"max_tokens": 6}',
    "--eval_limit",
    "3",
    "--per_device_eval_batch_size",
    "3",
]


def eval_scores(folder: Path) -> tuple[dict, list[str]]:
    scores = json.loads((folder / "scores.json").read_text())["scores"]
    (dataset,) = scores.values()
    replies = [
        json.loads(line)["prediction"] for line in (folder / "predictions" / "sums.jsonl.jsonl").open()
    ]
    return dataset, replies


def test_eval_dataset_scores_the_trained_model_at_each_evaluation(sft_argv, tiny_chat, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, data = tiny_chat
    steps = [
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--learning_rate",
        "1e-2",
        "--per_device_train_batch_size",
        "4",
    ]
    out = tmp_path / "run"
    best = ["--metric_for_best_model", "sums_bleu-4"]
    summary = start("sft", [*sft_argv(out, *steps), "--eval_dataset", str(data), *GENERATION, *best])

    # No validation split (quick_sft_argv sets 0): evaluation follows --save_steps and logs
    # only the dataset's scores.
    evaluations = [entry for entry in summary["log_history"] if KEYS & set(entry)]
    assert [e["step"] for e in evaluations] == [2, 4]
    assert all(
        set(e) >= KEYS and "eval_loss" not in e and all(0 <= e[k] <= 1 for k in KEYS) for e in evaluations
    )
    state = json.loads((out / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["best_metric"] == max(e["eval_sums_bleu-4"] for e in evaluations)
    logged = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    assert sum(set(line) >= KEYS for line in logged) == 2
    assert sorted(p.name for p in (out / "eval").iterdir()) == ["2", "4"]  # per evaluation; no staging
    trained, replies = eval_scores(out / "eval" / "4")
    assert trained["samples"] == 3 and len(replies) == 3
    assert {f"eval_sums_{m}": trained[m] for m in ("exact_match", "rouge-l", "bleu-4")} == {
        k: evaluations[-1][k] for k in KEYS
    }

    # `tk run eval` of the saved checkpoint gives the same replies and scores; the base
    # model gives other replies, so the scores above are the trained model's.
    common = [
        "--eval_dataset",
        str(data),
        "--eval_limit",
        "3",
        "--max_new_tokens",
        "6",
        "--max_batch_size",
        "3",
    ]
    saved = start("eval", ["--adapters", str(out / "checkpoint-4"), *common, "--eval_output_dir", "ckpt"])
    base = start("eval", ["--model", str(model), *common, "--eval_output_dir", "base"])
    assert eval_scores(saved) == (trained | {"seconds": eval_scores(saved)[0]["seconds"]}, replies)
    assert eval_scores(base)[1] != replies


def test_eval_dataset_names_what_it_cannot_score_before_training(sft_argv, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    loaded = "the model was loaded"
    monkeypatch.setattr("tunekite.training.policy.load_policy", lambda run: pytest.fail(loaded))
    out = tmp_path / "run"
    argv = sft_argv(out, "--max_steps", "2", "--save_steps", "2")
    missing = tmp_path / "no-such-set.jsonl"
    with pytest.raises(TunekiteError, match=re.escape(str(missing))):
        start("sft", [*argv, "--eval_dataset", str(missing)])
    with pytest.raises(TunekiteError, match="arithmetc"):
        start("sft", [*argv, "--eval_dataset", "arithmetc:small"])
    assert not list(out.glob("checkpoint-*"))
    with pytest.raises(pytest.fail.Exception, match=loaded):  # the guard above does catch a load
        start("sft", argv)
    with pytest.raises(ArgumentError, match="--metric_for_best_model to an --eval_dataset score such as qa_"):
        start("sft", [*argv, "--eval_dataset", "qa.jsonl", "--load_best_model_at_end", "true"])
    clash = re.escape("a/qa.jsonl and b/qa.jsonl would all log as eval_qa_<metric>")
    with pytest.raises(ArgumentError, match=clash):
        start("sft", [*argv, "--eval_dataset", "a/qa.jsonl", "b/qa.jsonl"])
    with pytest.raises(ArgumentError, match="--eval_strategy no turns evaluation off"):
        start("sft", [*argv, "--eval_dataset", "x.jsonl", "--eval_strategy", "no"])
    with pytest.raises(ArgumentError, match=r"--eval_generation_config: unknown key\(s\) max_new_tokens"):
        start(
            "sft", [*argv, "--eval_dataset", "x.jsonl", "--eval_generation_config", '{"max_new_tokens": 5}']
        )


@pytest.mark.parametrize("trainer", ["sft", "pt"])
def test_help_shows_the_evaluation_group(tk, trainer):
    result = tk("run", trainer, "--help")
    assert result.returncode == 0, result.stderr
    evaluation = result.stdout.split("\nevaluation arguments\n", 1)[1].split("\n\n", 1)[0]
    assert (
        "--eval_dataset" in evaluation
        and "--eval_limit" in evaluation
        and "--eval_generation_config" in evaluation
    )


def test_metric_names_are_dataset_names_without_the_data_extension():
    assert [metric_prefix(d) for d in ("data/qa.jsonl", "arithmetic:small", "humaneval", "x.csv")] == [
        "qa",
        "arithmetic-small",
        "humaneval",
        "x",
    ]
