"""`--predict_with_generate`: at each evaluation the model answers the validation prompts
(greedy, 64 new tokens, as ms-swift does) through core's pt engine, and the replies are
scored against the references with `--metric` (ROUGE-L and BLEU-4, or exact-match
accuracy), logged as `eval_rouge-l`, `eval_bleu-4` or `eval_acc`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tunekite.errors import ArgumentError
from tunekite.evaluation.answering import engine_answerer
from tunekite.evaluation.metrics import text_scores

MAX_NEW_TOKENS = 64


def generation_metrics(run: Any, tokenizer: Any, template: Any) -> Callable[[Any], dict[str, float]] | None:
    """The scorer `TunekiteTrainer` calls with its model at each evaluation; None without
    `--predict_with_generate`. The validation rows are read again (the same seeded split
    `prepare_datasets` made), kept as conversations rather than token ids."""
    if not run.predict_with_generate:
        return None
    from tunekite.data.loading import load_datasets

    _, val, _ = load_datasets(run.groups["data"], host=run.plugin_host)
    if val is None:
        raise ArgumentError(
            "--predict_with_generate needs validation data: pass --val_dataset or --split_dataset_ratio > 0"
        )
    prompts, references = [], []
    for row in val:
        messages = list(row["messages"])
        if messages[-1]["role"] != "assistant":
            continue  # nothing to compare a reply with
        prompts.append(messages[:-1])
        references.append(messages[-1]["content"])
    if not prompts:
        raise ArgumentError("--predict_with_generate: no validation row ends with an assistant reply")
    batch_size = run.per_device_eval_batch_size
    settings = {"max_tokens": MAX_NEW_TOKENS, "temperature": 0.0}

    def scores(model: Any) -> dict[str, float]:
        from tunekite.engines.pt import PtEngine

        answer = engine_answerer(
            PtEngine(model, tokenizer, template, max_batch_size=batch_size), settings, batch_size
        )
        return text_scores(run.metric, answer(prompts), references)

    return scores
