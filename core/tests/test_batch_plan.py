"""sft's default batching: padding-free rows on a CPU when the model keeps packed samples
apart (with per-token losses identical to padded batches), padded and length-grouped on
a GPU, the user's flags always first, and the choice said at start-up."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
import torch

from tunekite.constants import IGNORE_INDEX
from tunekite.data.collate import PaddedCollator, PaddingFreeCollator
from tunekite.testing import tiny_causal_lm
from tunekite.training.batching import choose_batching, isolates_packed_samples


def samples(count: int = 5, seed: int = 0) -> list[dict]:
    """Encoded samples of different lengths, a prompt untrained and the reply trained."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        prompt, reply = rng.randint(2, 9), rng.randint(2, 9)
        ids = [rng.randrange(1, 128) for _ in range(prompt + reply)]
        labels = [IGNORE_INDEX] * prompt + ids[prompt:]
        out.append({"input_ids": ids, "labels": labels, "loss_scale": [0.0] * prompt + [1.0] * reply})
    return out


def per_token_losses(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """Cross-entropy of every trained token, in reading order (row by row)."""
    inputs = {k: v for k, v in batch.items() if k not in ("labels", "loss_scale")}
    with torch.no_grad():
        logits = model(**inputs, use_cache=False).logits
    target = torch.full_like(batch["labels"], IGNORE_INDEX)
    target[:, :-1] = batch["labels"][:, 1:]
    losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction="none")
    return losses[target != IGNORE_INDEX]


def test_padding_free_rows_give_the_padded_per_token_losses() -> None:
    model = tiny_causal_lm().eval()
    batch = samples()
    padded = per_token_losses(model, PaddedCollator(0)(batch))
    flat = per_token_losses(model, PaddingFreeCollator()(batch))
    assert padded.numel() == sum(len(s["input_ids"]) - s["labels"].count(IGNORE_INDEX) for s in batch)
    torch.testing.assert_close(flat, padded, rtol=1e-5, atol=1e-5)


class DropsPositions(torch.nn.Module):
    """A causal LM that ignores `position_ids`: every token sees the whole row before it."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = tiny_causal_lm()

    def forward(self, input_ids: torch.Tensor, **_: object) -> object:
        return self.inner(input_ids=input_ids)


def test_the_probe_tells_isolating_models_from_leaking_ones() -> None:
    assert isolates_packed_samples(tiny_causal_lm())
    assert not isolates_packed_samples(DropsPositions())


def test_prompt_tuning_never_gets_padding_free_rows() -> None:
    from peft import PromptTuningConfig, get_peft_model

    model = get_peft_model(tiny_causal_lm(), PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=2))
    assert not isolates_packed_samples(model)


def training(**given: object) -> SimpleNamespace:
    defaults = {"padding_free": None, "group_by_length": None, "use_cpu": False}
    defaults["padding_free_chunk_tokens"] = None
    return SimpleNamespace(**{**defaults, **given})


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_a_cpu_trains_padding_free_in_random_order(no_gpu) -> None:
    plan = choose_batching(training(), packing=False, model=tiny_causal_lm(), groupable=True)
    assert (plan.padding_free, plan.group_by_length) == (True, False)
    assert "--padding_free false" in plan.describe()


def test_a_cpu_pads_and_groups_when_the_model_cannot_keep_samples_apart(no_gpu) -> None:
    plan = choose_batching(training(), packing=False, model=DropsPositions(), groupable=True)
    assert (plan.padding_free, plan.group_by_length) == (False, True)
    assert "cannot keep packed samples apart" in plan.describe()


def test_a_gpu_pads_and_groups_by_length(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    plan = choose_batching(training(), packing=False, model=tiny_causal_lm(), groupable=True)
    assert (plan.padding_free, plan.group_by_length) == (False, True)
    cpu = choose_batching(training(use_cpu=True), packing=False, model=tiny_causal_lm(), groupable=True)
    assert cpu.padding_free


def test_the_users_flags_win(no_gpu) -> None:
    given = training(padding_free=False, group_by_length=False)
    plan = choose_batching(given, packing=False, model=tiny_causal_lm(), groupable=True)
    assert (plan.padding_free, plan.group_by_length) == (False, False)
    given = training(padding_free=True, group_by_length=True)
    plan = choose_batching(given, packing=False, model=DropsPositions(), groupable=True)
    assert (plan.padding_free, plan.group_by_length) == (True, True)


def test_packing_and_lazy_data(no_gpu) -> None:
    given = training(padding_free=False)
    packed = choose_batching(given, packing=True, model=DropsPositions(), groupable=True)
    assert packed.padding_free and "--packing" in packed.why
    lazy = choose_batching(given, packing=False, model=tiny_causal_lm(), groupable=False)
    assert not lazy.group_by_length  # no length column: grouping would encode every row up front


def test_the_choice_is_said_at_start_up(tmp_path, capsys, no_gpu) -> None:
    from tunekite.api import start
    from tunekite.testing import save_tiny_chat_model

    model = save_tiny_chat_model(tmp_path / "tiny-chat")
    rows = [
        {"messages": [{"role": "user", "content": f"{i}?"}, {"role": "assistant", "content": f"{i}."}]}
        for i in range(8)
    ]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    argv = ["--model", str(model), "--dataset", str(data), "--output_dir", str(tmp_path / "run")]
    argv += ["--report_to", "none", "--split_dataset_ratio", "0", "--max_steps", "1", "--save_strategy", "no"]
    start("sft", argv)
    said = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert "batches: padding-free rows, in random order (CPU default; --padding_free false to pad)" in said
