"""The factory: load the reward model once, then score batches of prompt + completion."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError


def build(args: Any) -> Callable[..., list[float]]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if not args.reward_model_path:
        raise ArgumentError(
            "the reward_model reward needs a model: --reward_model PATH in tk run rlhf, "
            "else --reward_model_path PATH"
        )
    folder = Path(args.reward_model_path)
    if not (folder / "config.json").exists():
        raise ArgumentError(f"reward model {folder}: no config.json there; expected a saved model folder")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    model.eval()
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    limit = args.reward_model_max_length or getattr(model.config, "max_position_embeddings", None)
    size = max(1, args.reward_model_batch_size)

    def reward_model(
        completions: list[str], prompts: Sequence[Any] | None = None, **columns: Any
    ) -> list[float]:
        texts = [
            (p if isinstance(p, str) else "") + c
            for p, c in zip(prompts or [""] * len(completions), completions, strict=True)
        ]
        scores: list[float] = []
        for start in range(0, len(texts), size):
            batch = tokenizer(
                texts[start : start + size],
                return_tensors="pt",
                padding=True,
                truncation=limit is not None,
                max_length=limit,
                add_special_tokens=False,
            )
            with torch.inference_mode():
                logits = model(**batch).logits
            scores.extend(float(x) for x in logits[:, 0].float())
        return scores

    return reward_model
