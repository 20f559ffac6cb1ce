"""`tk run eval` end to end on the tiny model: through the pt engine and through `tk run
deploy` over a real socket (the same greedy replies), the results folder, and the native
evaluator's refusals; `tk run infer --metric`; `--predict_with_generate` in training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import ArgumentError, start
from tunekite.testing import deployed


def predictions(folder: Path, name: str) -> list[dict]:
    return [json.loads(line) for line in (folder / "predictions" / f"{name}.jsonl").read_text().splitlines()]


def test_eval_through_the_engine_and_through_a_deployed_server_agree(tiny_chat, tmp_path):
    model, qa_file = tiny_chat
    common = ["--eval_dataset", str(qa_file), "--max_new_tokens", "6", "--eval_limit", "4"]
    local = start("eval", ["--model", str(model), *common, "--eval_output_dir", str(tmp_path / "local")])

    with deployed(["--model", str(model), "--max_batch_size", "4", "--verbose", "false"]) as url:
        remote = start(
            "eval",
            [
                *common,
                "--eval_url",
                f"{url}/v1",
                "--eval_num_proc",
                "4",
                "--eval_output_dir",
                str(tmp_path / "remote"),
            ],
        )

    assert local.parent == tmp_path / "local" and remote.parent == tmp_path / "remote"
    ours, theirs = predictions(local, "sums.jsonl"), predictions(remote, "sums.jsonl")
    assert len(ours) == 4  # --eval_limit
    assert [p["prediction"] for p in ours] == [p["prediction"] for p in theirs]  # greedy: temperature 0
    assert [p["reference"] for p in ours] == ["0.", "2.", "4.", "6."]
    scores = json.loads((local / "scores.json").read_text())["scores"][str(qa_file)]
    assert scores["kind"] == "qa" and scores["samples"] == 4
    assert scores["rouge-l"] == pytest.approx(sum(p["scores"]["rouge-l"] for p in ours) / 4)
    manifest = json.loads((remote / "run_manifest.json").read_text())
    assert manifest["eval_url"] == f"{url}/v1" and str(qa_file) in manifest["datasets"]
    assert json.loads((remote / "args.json").read_text())["eval_num_proc"] == 4
    assert not [p for p in (tmp_path / "local").iterdir() if p.name.startswith(".")]  # no staging left


def test_eval_refuses_before_loading_anything(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ArgumentError, match="needs --eval_dataset"):
        start("eval", ["--model", str(tmp_path / "nothing")])
    with pytest.raises(ArgumentError, match="no OpenAI-compatible server answers"):
        start("eval", ["--eval_dataset", "x.jsonl", "--eval_url", "http://127.0.0.1:9/v1"])
    with pytest.raises(ArgumentError, match="load --adapters in `tk run deploy`"):
        start("eval", ["--eval_dataset", "x.jsonl", "--eval_url", "http://127.0.0.1:9/v1", "--adapters", "a"])
    assert list(tmp_path.iterdir()) == []  # no results folder (nor eval_output/) for a run that did not start


def test_infer_metric_scores_replies_against_references(tiny_chat, tmp_path):
    model, qa_file = tiny_chat
    argv = ["--model", str(model), "--max_new_tokens", "6", "--temperature", "0", "--val_dataset_sample", "5"]
    first = start("infer", [*argv, "--val_dataset", str(qa_file), "--result_path", str(tmp_path / "a.jsonl")])
    replies = [json.loads(line)["response"] for line in first.read_text().splitlines()]
    # References equal to the model's own greedy replies for the first 3 rows: acc 3/5.
    rows = [json.loads(line) for line in qa_file.read_text().splitlines()][:5]
    for row, reply in zip(rows[:3], replies, strict=False):
        row["messages"][-1]["content"] = reply
    echo = tmp_path / "echo.jsonl"
    echo.write_text("".join(json.dumps(r) + "\n" for r in rows))
    acc = start(
        "infer",
        [*argv, "--val_dataset", str(echo), "--metric", "acc", "--result_path", str(tmp_path / "b.jsonl")],
    )
    scores = json.loads(Path(f"{acc}.metric.json").read_text())
    expected = sum(
        reply.strip() == rows[i]["messages"][-1]["content"].strip() for i, reply in enumerate(replies)
    )
    assert expected >= 3 and scores["acc"] == pytest.approx(expected / 5) and scores["samples"] == 5
    rouge = start(
        "infer",
        [*argv, "--val_dataset", str(echo), "--metric", "rouge", "--result_path", str(tmp_path / "c.jsonl")],
    )
    scores = json.loads(Path(f"{rouge}.metric.json").read_text())
    assert set(scores) == {"rouge-l", "bleu-4", "samples"}
    assert 0.6 <= scores["rouge-l"] <= 1.0  # three of five replies are their own reference
    with pytest.raises(ArgumentError, match="--metric scores a dataset"):
        start("infer", [*argv, "--metric", "acc"])


@pytest.mark.parametrize(
    ("metric", "keys"), [("rouge", {"eval_rouge-l", "eval_bleu-4"}), ("acc", {"eval_acc"})]
)
def test_predict_with_generate_logs_generated_scores_at_each_evaluation(
    sft_argv, tmp_path, monkeypatch, metric, keys
):
    monkeypatch.chdir(tmp_path)
    steps = [
        "--max_steps",
        "4",
        "--save_steps",
        "2",
        "--eval_steps",
        "2",
        "--per_device_train_batch_size",
        "4",
    ]
    argv = [
        *sft_argv(tmp_path / "run", *steps),
        "--split_dataset_ratio",
        "0.1",
        "--predict_with_generate",
        "true",
    ]
    summary = start("sft", [*argv, "--metric", metric, "--per_device_eval_batch_size", "4"])
    evaluations = [entry for entry in summary["log_history"] if "eval_loss" in entry]
    assert [e["step"] for e in evaluations] == [2, 4]
    for entry in evaluations:
        assert keys <= set(entry) and all(0.0 <= entry[k] <= 1.0 for k in keys)
    logged = [json.loads(line) for line in (tmp_path / "run" / "logging.jsonl").read_text().splitlines()]
    assert sum(keys <= set(line) for line in logged) == 2
