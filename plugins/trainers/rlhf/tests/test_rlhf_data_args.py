"""The rlhf trainer's arguments and data, without training: defaults by algorithm, the
dispatch, and canonical rows rendered by our template into TRL's prompt/completion text."""

from __future__ import annotations

from dataclasses import fields

import pytest

from tunekite.api import ArgumentError, TemplateArguments, build_template
from tunekite.testing import save_tiny_chat_model
from tunekite_rlhf import recipe
from tunekite_rlhf.args import RlhfArguments, default_beta
from tunekite_rlhf.data import BadRow, convert_row


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    from transformers import AutoTokenizer

    folder = save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")
    return build_template(
        AutoTokenizer.from_pretrained(folder), TemplateArguments(template="chatml"), quiet=True
    )


def test_defaults_follow_the_reference():
    defaults = {f.name: f.default for f in fields(RlhfArguments)}
    assert defaults["rlhf_type"] == "dpo" and defaults["beta"] is None
    assert (defaults["label_smoothing"], defaults["rpo_alpha"], defaults["cpo_alpha"]) == (0.0, 1.0, 1.0)
    assert (defaults["simpo_gamma"], defaults["desirable_weight"], defaults["undesirable_weight"]) == (
        1.0,
        1.0,
        1.0,
    )
    assert defaults["ref_model"] is None and defaults["reward_model"] is None
    assert "num_generations" in defaults  # GRPO's mixin
    assert [default_beta(k, None) for k in ("simpo", "grpo", "dpo", "kto", "orpo", "cpo")] == [
        2.0, 0.04, 0.1, 0.1, 0.1, 0.1,
    ]  # fmt: skip
    assert default_beta("simpo", 1.5) == 1.5


def test_loss_scale_defaults_to_last_round():
    from tunekite.api import registry

    spec = registry("trainers").get("rlhf")
    assert dict(spec.defaults)["loss_scale"] == "last_round"


def test_a_missing_algorithm_module_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(recipe.MODULES, "ppo", "tunekite_rlhf.no_such_module")
    with pytest.raises(ArgumentError, match=r"no tunekite_rlhf\.no_such_module module"):
        recipe.trainer_module("ppo")
    assert recipe.trainer_module("dpo").__name__ == "tunekite_rlhf.preference"


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


def test_help_lists_the_rlhf_arguments():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "tunekite", "run", "rlhf", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    for name in ("--rlhf_type", "--rpo_alpha", "--simpo_gamma", "--desirable_weight", "--reward_model"):
        assert name in result.stdout
