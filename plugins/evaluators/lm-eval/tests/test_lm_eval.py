"""The lm_eval evaluator offline: a hub benchmark fails with one line naming the fix, and
a local copy of its data runs through lm-eval's own prompts, filters and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tunekite_lm_eval.evaluate import conversation, cut_at_stops, evaluate

from tunekite.api import EvalJob
from tunekite.testing import save_tiny_chat_model

OFFLINE = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def test_a_hub_benchmark_offline_fails_with_one_line_naming_the_fix(tmp_path):
    model = save_tiny_chat_model(tmp_path / "tiny")
    tk = str(Path(sys.executable).parent / "tk")
    done = subprocess.run(
        [tk, "run", "eval", "--model", str(model), "--eval_backend", "lm_eval", "--eval_dataset", "gsm8k",
         "--eval_limit", "1", "--eval_output_dir", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=600, env={**os.environ, **OFFLINE},
    )  # fmt: skip
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    error = [line for line in done.stderr.splitlines() if "gsm8k" in line and "Offline fix" in line]
    assert len(error) == 1, done.stderr[-2000:]
    assert "HF_DATASETS_OFFLINE=1" in error[0] and "--eval_dataset_args" in error[0]
    local = json.loads(error[0].split("--eval_dataset_args '")[1].rstrip("'"))
    assert local["gsm8k"]["dataset_path"] == "json"  # the advice is valid JSON
    assert not (tmp_path / "out").exists()


def test_a_local_copy_runs_through_lm_eval(tmp_path, monkeypatch):
    for key, value in OFFLINE.items():
        monkeypatch.setenv(key, value)
    rows = [
        {"question": "Tom has 2 apples and buys 3 more. How many apples?", "answer": "2+3=5\n#### 5"},
        {"question": "A box has 4 pens; 1 is lost. How many pens?", "answer": "4-1=3\n#### 3"},
    ]
    data = tmp_path / "gsm8k.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    asked = []

    def answer(conversations, **overrides):
        asked.append((conversations, overrides))
        return ["The answer is 5.\n\nQuestion: more"] * len(conversations)

    local = {"dataset_path": "json", "dataset_name": None, "num_fewshot": 0,
             "dataset_kwargs": {"data_files": {"train": str(data), "test": str(data)}}}  # fmt: skip
    job = EvalJob(
        datasets=("gsm8k",), limit=None, answer=answer, load_rows=None, dataset_args={"gsm8k": local}
    )
    (result,) = evaluate(None, job)
    assert result.kind == "lm_eval:gsm8k"
    assert result.scores == {"exact_match,strict-match": 0.0, "exact_match,flexible-extract": 0.5}
    conversations, overrides = asked[0]
    assert conversations[0] == [{"role": "user", "content": f"Question: {rows[0]['question']}\nAnswer:"}]
    assert "Question:" in overrides["stop"]  # the task's own stop strings
    flexible = [s for s in result.samples if s.extra["filter"] == "flexible-extract"]
    assert [s.scores["exact_match,flexible-extract"] for s in flexible] == [1.0, 0.0]
    assert flexible[0].prediction == "5."  # cut at the stop string, then lm-eval's filter


def test_chat_prompts_round_trip_through_lm_eval():
    messages = [{"role": "user", "content": "Q?"}]
    assert conversation(json.dumps(messages)) == messages
    assert conversation(json.dumps(messages) + "The best answer is") == [
        {"role": "user", "content": "Q?\nThe best answer is"}
    ]
    assert cut_at_stops("A.\n\nmore", ("\n\n",)) == "A."
