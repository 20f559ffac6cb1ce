"""dpo, orpo, simpo, cpo and kto through `tk run rlhf` on a tiny model: what each algorithm
must show, checkpoints that resume, and LoRA's reference being the adapter-disabled base."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunekite.api import ArgumentError, TunekiteError, checkpoint_description, start
from tunekite.testing import save_tiny_chat_model


def pair(i: int) -> dict:
    return {
        "messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "good"}],
        "rejected_response": "bad bad",
    }


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def pairs(tmp_path_factory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("data") / "pairs.jsonl", [pair(i) for i in range(8)])


@pytest.fixture(scope="module")
def kto_rows(tmp_path_factory) -> Path:
    """KTO rows with a label (several formats) plus chosen/rejected pairs, which kto unpairs."""
    rows = [
        {
            "messages": [{"role": "user", "content": f"q {i}"}, {"role": "assistant", "content": "ok"}],
            "label": True,
        }
        for i in range(4)
    ]
    rows += [{"query": f"q {i}", "response": "no no", "label": False} for i in range(4)]
    rows += [{"prompt": f"p {i}", "chosen": "good", "rejected": "bad bad"} for i in range(2)]
    return write_jsonl(tmp_path_factory.mktemp("data") / "kto.jsonl", rows)


def rlhf(kind: str, model_dir: Path, data: Path, out: Path, *extra: str) -> dict:
    argv = [
        "--rlhf_type", kind,
        "--model", str(model_dir),
        "--template", "chatml",
        "--dataset", str(data),
        "--output_dir", str(out),
        "--add_version", "false",
        "--report_to", "none",
        "--split_dataset_ratio", "0",
        "--gradient_checkpointing", "false",
        "--logging_steps", "1",
        "--save_steps", "2",
        "--per_device_train_batch_size", "2",
        "--max_length", "48",
        "--max_steps", "2",
        "--learning_rate", "1e-3",
        *extra,
    ]  # fmt: skip
    return start("rlhf", argv)


def logs(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]


def steps(out: Path) -> list[dict]:
    return [r for r in logs(out) if "loss" in r]


def test_lora_dpo_logs_margins_uses_the_base_as_reference_and_resumes(model_dir, pairs, tmp_path):
    out = tmp_path / "run"
    result = rlhf("dpo", model_dir, pairs, out, "--tuner", "lora")
    logged = steps(out)
    assert [r["step"] for r in logged] == [1, 2]
    assert all("rewards/margins" in r and "rewards/accuracies" in r for r in logged)
    assert logged[0]["rewards/chosen"] == 0.0  # the policy starts as its reference
    # ... and moves away from it: with the adapter still on in the reference pass the
    # policy would be its own reference, and every margin would stay exactly 0.
    assert abs(logged[1]["rewards/margins"]) > 1e-4, logged[1]

    trainer = result["trainer"]
    assert trainer.ref_model is None  # no second model in memory ...
    assert list(trainer.model.peft_config) == ["default"]  # ... nor a copied `ref` adapter: adapters disabled
    assert trainer.args.loss_type == ["sigmoid", "sft"] and trainer.args.loss_weights == [
        1.0,
        1.0,
    ]  # rpo_alpha 1
    assert trainer.beta == 0.1 and trainer.args.use_cpu

    checkpoint = out / "checkpoint-2"
    assert result["last_checkpoint"] == checkpoint
    assert (checkpoint / "adapter_model.safetensors").exists() and not (checkpoint / "ref").exists()
    assert json.loads((checkpoint / "args.json").read_text())["rlhf_type"] == "dpo"
    described = checkpoint_description(checkpoint)
    assert described["trainer"] == "dpo" and described["tuner"]["name"] == "lora"
    assert described["tuner"]["distribution"] == "tunekite-lora" and described["template"] == "chatml"
    assert json.loads((checkpoint / "args.json").read_text())["loss_scale"] == "last_round"
    assert not (out / ".staging").exists()  # written aside, renamed into place

    resumed = rlhf("dpo", model_dir, pairs, out, "--tuner", "lora", "--max_steps", "3",
                   "--resume_from_checkpoint", str(checkpoint))  # fmt: skip
    assert resumed["last_checkpoint"] == out / "checkpoint-3"
    assert [r["step"] for r in steps(out)] == [1, 2, 3]


def test_full_dpo_has_a_frozen_reference_copy(model_dir, pairs, tmp_path):
    result = rlhf("dpo", model_dir, pairs, tmp_path / "run", "--tuner", "full", "--max_steps", "1",
                  "--loss_type", "ipo", "--rpo_alpha", "0.5", "--beta", "0.3")  # fmt: skip
    trainer = result["trainer"]
    ref = trainer.ref_model
    assert ref is not None and ref is not trainer.model
    assert not any(p.requires_grad for p in ref.parameters())
    assert trainer.args.loss_type == ["ipo", "sft"] and trainer.args.loss_weights == [1.0, 0.5]
    assert trainer.beta == 0.3
    assert (tmp_path / "run" / "checkpoint-1" / "model.safetensors").exists()


def test_kto_weights_reach_the_trainer_and_change_the_loss(model_dir, kto_rows, tmp_path):
    import torch

    result = rlhf("kto", model_dir, kto_rows, tmp_path / "run", "--tuner", "lora", "--max_steps", "1",
                  "--desirable_weight", "3.0", "--undesirable_weight", "0.5")  # fmt: skip
    trainer = result["trainer"]
    assert (trainer.desirable_weight, trainer.undesirable_weight) == (3.0, 0.5)
    assert len(trainer.train_dataset) == 8 + 2 * 2  # labelled rows, and each pair as two rows
    (logged,) = steps(tmp_path / "run")
    assert "kl" in logged and "rewards/chosen" in logged

    batch = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    with torch.no_grad():
        weighted = trainer.compute_loss(trainer.model, batch).item()
        trainer.desirable_weight = trainer.undesirable_weight = 1.0
        plain = trainer.compute_loss(trainer.model, batch).item()
    assert weighted != pytest.approx(plain)


def test_simpo_is_cpo_with_beta_2_and_gamma(model_dir, pairs, tmp_path):
    result = rlhf("simpo", model_dir, pairs, tmp_path / "run", "--tuner", "lora", "--max_steps", "1",
                  "--simpo_gamma", "0.7", "--cpo_alpha", "0.5")  # fmt: skip
    trainer = result["trainer"]
    assert type(trainer).__mro__[2].__name__ == "CPOTrainer"
    assert (trainer.beta, trainer.loss_type, trainer.simpo_gamma, trainer.cpo_alpha) == (
        2.0,
        "simpo",
        0.7,
        0.5,
    )
    (logged,) = steps(tmp_path / "run")
    # SimPO's reward is beta x the mean log-prob per token: -2 x the mean NLL of the chosen reply
    assert logged["rewards/chosen"] == pytest.approx(2.0 * logged["logps/chosen"], rel=1e-4)
    assert "rewards/margins" in logged and "nll_loss" in logged


@pytest.mark.parametrize(("kind", "key"), [("orpo", "log_odds_ratio"), ("cpo", "nll_loss")])
def test_orpo_and_cpo_train_and_drop_rows_without_a_rejected_reply(
    model_dir, pairs, tmp_path, capsys, kind, key
):
    data = write_jsonl(tmp_path / "mixed.jsonl", [pair(0), {"query": "no pair", "response": "x"}, pair(1)])
    rlhf(kind, model_dir, data, tmp_path / "run", "--tuner", "lora", "--max_steps", "1")
    (logged,) = steps(tmp_path / "run")
    assert key in logged and "rewards/accuracies" in logged
    assert "dropped 1 row(s) that" in capsys.readouterr().out
    assert (tmp_path / "run" / "checkpoint-1" / "adapter_model.safetensors").exists()


def test_strict_names_the_file_and_line_without_a_rejected_reply(model_dir, tmp_path):
    data = write_jsonl(tmp_path / "mixed.jsonl", [pair(0), pair(1), {"query": "lonely", "response": "x"}])
    with pytest.raises(TunekiteError, match=r"mixed\.jsonl, line 3 \(user: 'lonely'\): no rejected response"):
        rlhf("dpo", model_dir, data, tmp_path / "run", "--strict", "true")


@pytest.mark.parametrize(
    ("kind", "extra", "message"),
    [
        ("kto", ["--per_device_train_batch_size", "1"], "at least 2"),
        ("orpo", ["--ref_model", "x"], "belongs to the trainers 'dpo', 'kto', 'ppo'"),
        ("rm", [], "--task_type seq_cls --num_labels 1"),
        ("dpo", ["--task_type", "seq_cls", "--num_labels", "1"], "causal LM"),
    ],
)
def test_bad_arguments_are_clear_errors(model_dir, pairs, tmp_path, kind, extra, message):
    with pytest.raises(ArgumentError, match=message):
        rlhf(kind, model_dir, pairs, tmp_path / "run", *extra)
