"""The reward_model reward on a tiny sequence-classification model saved to a folder."""

from __future__ import annotations

import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tunekite.api import ArgumentError
from tunekite.testing import RewardConformance, tiny_tokenizer
from tunekite_reward_model.plugin import RewardModelArguments
from tunekite_reward_model.score import build


@cache
def tiny_reward_model() -> Path:
    """A two-layer Llama with a one-logit score head and its tokenizer, saved once per session."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    folder = Path(tempfile.mkdtemp(prefix="tk-reward-model-"))
    tokenizer = tiny_tokenizer(None, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=128,
        num_labels=1,
        pad_token_id=tokenizer.pad_token_id,
    )
    LlamaForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class TestRewardModelConformance(RewardConformance):
    name = "reward_model"

    def make_args(self) -> RewardModelArguments:
        return RewardModelArguments(reward_model_path=str(tiny_reward_model()))


def test_scores_are_the_models_logit_and_batching_does_not_change_them() -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = tiny_reward_model()
    texts = ["a short one", "a somewhat longer completion of words", "x"]
    one = build(RewardModelArguments(reward_model_path=str(folder), reward_model_batch_size=1))(texts)
    many = build(RewardModelArguments(reward_model_path=str(folder)))(texts)
    assert one == pytest.approx(many, abs=1e-5)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder)
    with torch.no_grad():
        expected = model(**tokenizer(texts[1:2], return_tensors="pt", add_special_tokens=False)).logits[0, 0]
    assert many[1] == pytest.approx(float(expected), abs=1e-5)
    assert len(set(many)) == 3


def test_prompt_is_scored_with_the_completion() -> None:
    reward = build(RewardModelArguments(reward_model_path=str(tiny_reward_model())))
    alone = reward(["four"])
    assert reward(["four"], prompts=["what is two plus two? "]) != alone
    assert reward(["what is two plus two? four"]) == pytest.approx(
        reward(["four"], prompts=["what is two plus two? "])
    )


def test_missing_or_wrong_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArgumentError, match=r"--reward_model PATH"):
        build(RewardModelArguments())
    with pytest.raises(ArgumentError, match=r"config\.json nor adapter_config\.json"):
        build(RewardModelArguments(reward_model_path=str(tmp_path)))


def lora_reward_adapter(folder: Path) -> Any:
    """A LoRA reward-model adapter (random, non-zero) on the tiny model, saved as `rm` saves one."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    torch.manual_seed(1)
    base = AutoModelForSequenceClassification.from_pretrained(tiny_reward_model())
    config = LoraConfig(task_type="SEQ_CLS", r=4, target_modules="all-linear", init_lora_weights=False)
    peft_model = get_peft_model(base, config).eval()
    peft_model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_reward_model()).save_pretrained(folder)
    return peft_model


def test_a_lora_reward_model_scores_as_the_adapted_model(tmp_path: Path) -> None:
    import torch
    from transformers import AutoTokenizer

    peft_model = lora_reward_adapter(tmp_path / "adapter")
    texts = ["a short one", "a somewhat longer completion of words"]
    scores = build(RewardModelArguments(reward_model_path=str(tmp_path / "adapter")))(texts)
    base_scores = build(RewardModelArguments(reward_model_path=str(tiny_reward_model())))(texts)
    tokenizer = AutoTokenizer.from_pretrained(tiny_reward_model())
    with torch.no_grad():
        expected = [
            float(peft_model(**tokenizer([t], return_tensors="pt", add_special_tokens=False)).logits[0, 0])
            for t in texts
        ]
    assert scores == pytest.approx(expected, abs=1e-4)
    assert scores != pytest.approx(base_scores, abs=1e-3)
    # The same adapter given as --reward_adapters on the base model scores the same.
    merged = build(
        RewardModelArguments(
            reward_model_path=str(tiny_reward_model()), reward_model_adapters=[str(tmp_path / "adapter")]
        )
    )(texts)
    assert merged == pytest.approx(expected, abs=1e-4)


def test_completions_with_their_end_of_turn_are_scored_when_given() -> None:
    reward = build(RewardModelArguments(reward_model_path=str(tiny_reward_model())))
    with_eos = reward(["four"], completions_with_eos=["four<|im_start|>"])
    assert with_eos == pytest.approx(reward(["four<|im_start|>"])) and with_eos != reward(["four"])
