"""The factory: load the reward model once, then score batches of prompt + completion."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError


def load_classifier(folder: Path, adapters: Sequence[str] = ()) -> tuple[Any, Any]:
    """(model, tokenizer) of a saved sequence-classification model, or of a LoRA reward
    model (`rlhf --rlhf_type rm --tuner lora` saves an adapter with its `score` head) on
    its base; `adapters` are merged in after."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    if (folder / "config.json").exists():
        model = AutoModelForSequenceClassification.from_pretrained(folder)
    elif (folder / "adapter_config.json").exists():
        base = json.loads((folder / "adapter_config.json").read_text())["base_model_name_or_path"]
        if not base or not Path(base, "config.json").exists():
            raise ArgumentError(
                f"reward model {folder}: an adapter whose base model {base!r} is not a saved model folder; "
                "merge it (tk run export --merge_lora true) or pass the base with --reward_model and the "
                "adapter with --reward_adapters"
            )
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model = PeftModel.from_pretrained(model, folder).merge_and_unload()
    else:
        raise ArgumentError(
            f"reward model {folder}: neither config.json nor adapter_config.json there; expected a saved "
            "model or reward-model adapter folder"
        )
    for adapter in adapters:
        model = PeftModel.from_pretrained(model, adapter).merge_and_unload()
    model.requires_grad_(False)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def build(args: Any) -> Callable[..., list[float]]:
    import torch

    if not args.reward_model_path:
        raise ArgumentError(
            "the reward_model reward needs a model: --reward_model PATH in tk run rlhf, "
            "else --reward_model_path PATH"
        )
    model, tokenizer = load_classifier(Path(args.reward_model_path), args.reward_model_adapters)
    limit = args.reward_model_max_length or getattr(model.config, "max_position_embeddings", None)
    size = max(1, args.reward_model_batch_size)

    def reward_model(
        completions: list[str], prompts: Sequence[Any] | None = None, **columns: Any
    ) -> list[float]:
        # A trainer that has the completions with their end-of-turn token passes them: the
        # model was trained on whole turns.
        replies = columns.get("completions_with_eos") or completions
        texts = [
            (p if isinstance(p, str) else "") + c
            for p, c in zip(prompts or [""] * len(replies), replies, strict=True)
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
