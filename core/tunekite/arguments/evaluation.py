"""The `--eval_dataset` arguments that `tk run eval` and training share (ms-swift 3.x
names): one declaration, read by the eval task and by the sft/pt recipe."""

from __future__ import annotations

from dataclasses import dataclass

from tunekite.arguments.fields import arg


@dataclass(kw_only=True)
class EvalDatasetArguments:
    """Which datasets an evaluator scores, how many samples of each, and their options."""

    eval_dataset: list[str] = arg(
        default_factory=list,
        help="datasets to score: humaneval, a registered name (arithmetic:small), a local file, or a "
        "backend's benchmark (gsm8k with tk run eval --eval_backend lm_eval)",
    )
    eval_limit: int | None = arg(None, help="score at most N samples of each dataset; None: all")
    eval_dataset_args: dict | None = arg(
        None,
        help='per-dataset options as JSON: \'{"qa.jsonl": {"kind": "qa"}}\' (native), '
        '\'{"gsm8k": {"dataset_path": "/data/gsm8k"}}\' (lm_eval)',
    )


@dataclass(kw_only=True)
class TrainingEvalArguments(EvalDatasetArguments):
    """`--eval_dataset` in training (ms-swift's `--eval_use_evalscope` arguments): at each
    evaluation the native evaluator scores the model being trained on these datasets."""

    eval_generation_config: dict | None = arg(
        None,
        help="how --eval_dataset replies are generated, as JSON: max_tokens (512), temperature (0), "
        "top_p, top_k, repetition_penalty, stop",
    )
