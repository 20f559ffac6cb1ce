"""The SmolLM2 template against the real SmolLM2 tokenizer, and the commands that show it.

Cross-distribution: the tokenizer comes from the gguf plugin's `smollm2-135m-instruct`
(converted once, then read from the cache), the template from the chatml plugin.
"""

from __future__ import annotations

import functools

from tests.conftest import run_tk
from tunekite.arguments.groups import ModelArguments, TemplateArguments
from tunekite.plugin_host import get_host
from tunekite.testing import TemplateConformance


@functools.lru_cache(maxsize=1)
def smollm2_tokenizer():
    from tunekite.models.loader import load_tokenizer

    return load_tokenizer(ModelArguments(model="smollm2-135m-instruct"), host=get_host())


class TestSmollm2WithRealTokenizer(TemplateConformance):
    name = "smollm2"

    def tokenizer(self):
        return smollm2_tokenizer()


def test_model_declares_the_template_and_detection_agrees():
    from tunekite.templates.resolve import choose_template, detect_template

    tokenizer = smollm2_tokenizer()
    assert choose_template(tokenizer, model="smollm2-135m-instruct", host=get_host())[0] == "smollm2"
    assert detect_template(tokenizer.chat_template, get_host()) == "smollm2"


def test_generation_prompt_ids_match_apply_chat_template():
    from tunekite.templates.resolve import build_template

    tokenizer = smollm2_tokenizer()
    args = TemplateArguments()
    template = build_template(tokenizer, args, "smollm2-135m-instruct", quiet=True, host=get_host())
    messages = [{"role": "user", "content": "who are you?"}]
    expected = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    expected = list(expected["input_ids"] if hasattr(expected, "keys") else expected)
    assert template.prompt_ids(messages) == expected


def test_tk_check_template_passes_for_smollm2_and_reports_chatml_difference():
    good = run_tk("check", "template", "--model", "smollm2-135m-instruct")
    assert good.returncode == 0, good.stdout + good.stderr
    assert "matches the tokenizer's chat template" in good.stdout
    bad = run_tk("check", "template", "chatml", "--model", "smollm2-135m-instruct")
    assert bad.returncode == 1
    assert "first difference at token" in bad.stdout and "system\\nYou are a" in bad.stdout


def test_tk_data_preview_shows_encoded_self_cognition_rows():
    result = run_tk(
        "data",
        "preview",
        "--model",
        "smollm2-135m-instruct",
        "--dataset",
        "self-cognition:en#2",
        "--model_name",
        "小风筝",
        "Kite",
        "--model_author",
        "极客",
        "Acme",
        "--preview_samples",
        "2",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("tokens,") == 2 and "trained" in result.stdout
    assert "Kite" in result.stdout or "Acme" in result.stdout
    assert "template: smollm2" in result.stderr
