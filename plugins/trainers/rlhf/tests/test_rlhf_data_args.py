"""The alignment trainers' arguments and data, without training: each trainer's own group
and defaults, the `rlhf` alias, arguments of one trainer refused by another, and canonical
rows rendered by our template into TRL's prompt/completion text."""

from __future__ import annotations

from dataclasses import fields

import pytest

from tunekite.api import ArgumentError, TemplateArguments, build_template, get_host, registry, resolve
from tunekite.testing import save_tiny_chat_model
from tunekite_rlhf.args import RLHF_TYPES
from tunekite_rlhf.data import BadRow, convert_row


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")
    return build_template(
        AutoTokenizer.from_pretrained(folder), TemplateArguments(template="chatml"), quiet=True
    , host=get_host())


def defaults(trainer: str) -> dict:
    return {f.name: f.default for f in fields(registry("trainers").get(trainer).args)}


def test_each_trainer_has_its_own_arguments_with_the_reference_defaults():
    assert [defaults(k)["beta"] for k in ("simpo", "grpo", "dpo", "kto", "orpo", "cpo")] == [
        2.0, 0.04, 0.1, 0.1, 0.1, 0.1,
    ]  # fmt: skip
    dpo = defaults("dpo")
    assert (dpo["label_smoothing"], dpo["rpo_alpha"], dpo["ref_model"]) == (0.0, 1.0, None)
    assert (defaults("simpo")["simpo_gamma"], defaults("simpo")["cpo_alpha"]) == (1.0, 1.0)
    assert (defaults("kto")["desirable_weight"], defaults("kto")["undesirable_weight"]) == (1.0, 1.0)
    assert "num_generations" in defaults("grpo") and "num_ppo_epochs" not in defaults("grpo")
    assert defaults("ppo")["reward_model"] is None and defaults("ppo")["temperature"] == 0.9
    assert "ref_model" not in defaults("orpo") and "beta" not in defaults("rm")


def test_loss_scale_defaults_to_last_round():
    for name in RLHF_TYPES:
        assert dict(registry("trainers").get(name).defaults)["loss_scale"] == "last_round", name


def test_rlhf_type_resolves_to_the_trainer_it_names(tmp_path):
    run, _ = resolve("rlhf", ["--rlhf_type", "kto", "--model", "m", "--beta", "0.2"])
    assert run.spec is registry("trainers").get("kto")
    assert run.component_args(run.spec).beta == 0.2
    assert run.values()["rlhf_type"] == "kto"  # kept in args.json, as ms-swift writes it
    with pytest.raises(ArgumentError, match="rlhf_type must be one of"):
        resolve("rlhf", ["--rlhf_type", "sft", "--model", "m"])


def test_an_argument_of_another_trainer_names_its_owner():
    with pytest.raises(
        ArgumentError, match=r"--num_ppo_epochs: belongs to the trainer 'ppo' \(tunekite-rlhf\)"
    ):
        resolve("dpo", ["--model", "m", "--num_ppo_epochs", "9"])
    with pytest.raises(
        ArgumentError, match=r"--use_vllm: belongs to the trainer 'grpo'.*not to trainer 'dpo'"
    ):
        resolve("rlhf", ["--rlhf_type", "dpo", "--model", "m", "--use_vllm", "true"])
    with pytest.raises(ArgumentError, match="--ref_model: belongs to the trainers 'dpo', 'kto', 'ppo'"):
        resolve("orpo", ["--model", "m", "--ref_model", "x"])


def test_pairs_render_with_our_template(template):
    row = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "good"},
        ],
        "rejected_response": "bad",
        "label": None,
        "tools": None,
    }
    (converted,) = convert_row(row, template, "dpo")
    assert converted["prompt"] == (
        "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\na<|im_end|>\n"
        "<|im_start|>assistant\nb<|im_end|>\n<|im_start|>user\nc<|im_end|>\n<|im_start|>assistant\n"
    )  # earlier replies are context, untrained
    assert converted["chosen"] == "good<|im_end|>" and converted["rejected"] == "bad<|im_end|>"
    # prompt + chosen is exactly the conversation as the template renders it for SFT
    full = template.render(row["messages"])
    assert full.startswith(converted["prompt"] + converted["chosen"])


def test_kto_rows_keep_their_label_and_pairs_are_unpaired(template):
    messages = [{"role": "user", "content": "q"}, {"role": "assistant", "content": "r"}]
    labelled = convert_row({"messages": messages, "label": False, "rejected_response": None}, template, "kto")
    prompt = "<|im_start|>user\nq<|im_end|>\n<|im_start|>assistant\n"
    assert labelled == [{"prompt": prompt, "completion": "r<|im_end|>", "label": False}]
    unpaired = convert_row({"messages": messages, "label": None, "rejected_response": "x"}, template, "kto")
    assert [(r["completion"], r["label"]) for r in unpaired] == [
        ("r<|im_end|>", True),
        ("x<|im_end|>", False),
    ]
    with pytest.raises(BadRow, match="no kto label"):
        convert_row({"messages": messages, "label": None, "rejected_response": None}, template, "kto")
    with pytest.raises(BadRow, match="no rejected response"):
        convert_row({"messages": messages, "label": True, "rejected_response": None}, template, "dpo")


def test_help_lists_only_the_selected_trainers_arguments():
    import subprocess
    import sys

    def help_of(*argv: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "tunekite", "run", *argv, "--help"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    dpo = help_of("dpo")
    assert "trainer dpo arguments" in dpo and "--rpo_alpha" in dpo
    for other in ("--simpo_gamma", "--desirable_weight", "--reward_model", "--num_ppo_epochs", "--rlhf_type"):
        assert other not in dpo
    kto = help_of("rlhf", "--rlhf_type", "kto")
    assert "--rlhf_type" in kto and "--desirable_weight" in kto and "--rpo_alpha" not in kto
