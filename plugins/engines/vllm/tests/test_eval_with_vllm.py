"""`tk run eval --infer_backend vllm` on SmolLM2-135M-Instruct: the native evaluator scores
the vLLM engine's replies, and with greedy decoding in the same dtype they are the pt
engine's, so both runs write the same predictions and the same scores. (Named to run
before the session's own vLLM engine starts, so two engines never share the machine.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import start

from .conftest import DTYPE, HAS_VLLM, VLLM_MISSING

pytestmark = pytest.mark.skipif(not HAS_VLLM, reason=VLLM_MISSING)


def evaluate(backend: str, folder: Path, out: Path) -> tuple[list[dict], dict]:
    argv = ["--model", str(folder), "--infer_backend", backend, "--torch_dtype", DTYPE]
    argv += ["--eval_dataset", "arithmetic:small", "--eval_limit", "6", "--max_new_tokens", "24"]
    if backend == "vllm":
        argv += ["--max_model_len", "1024"]
    result = start("eval", [*argv, "--eval_output_dir", str(out)])
    (predictions,) = (result / "predictions").glob("*.jsonl")
    rows = [json.loads(line) for line in predictions.read_text().splitlines()]
    scores = json.loads((result / "scores.json").read_text())["scores"]
    return rows, {name: {k: v for k, v in d.items() if k != "seconds"} for name, d in scores.items()}


def test_eval_through_vllm_scores_the_replies_the_pt_engine_gives(smollm2, tmp_path) -> None:
    theirs, vllm_scores = evaluate("vllm", smollm2.folder, tmp_path / "vllm")
    ours, pt_scores = evaluate("pt", smollm2.folder, tmp_path / "pt")
    assert len(theirs) == 6  # --eval_limit
    assert [r["prediction"] for r in theirs] == [r["prediction"] for r in ours]
    assert all(r["prediction"].strip() for r in theirs)
    assert vllm_scores == pt_scores
    (scores,) = vllm_scores.values()
    assert scores["samples"] == 6 and scores["acc"] == sum(r["scores"]["acc"] for r in theirs) / 6
