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


ENGLISH = ("the", "model", "learns", "to", "answer", ",", "python", "42", "3.14", ";", "?", "café", "naïve")
CHINESE = "我们今天讨论机器学习模型的训练方法以及数据处理步骤请详细说明为什么重要，。！？"


def varied_rows(count: int) -> list[dict]:
    """Conversations of 1-4 rounds, some with a system prompt: English, Chinese (common
    ideographs, pairs the vocabulary joins such as 数据, ones from all of CJK Unified and
    Extension A), and both mixed with spaces, newlines and punctuation between them."""
    import random

    rng = random.Random(19)
    rare = [chr(c) for c in (*range(0x3400, 0x4DC0, 97), *range(0x4E00, 0xA000, 13))] + ["数据"]

    def text() -> str:
        kind = rng.randrange(4)
        if kind == 0:
            return " ".join(rng.choice(ENGLISH) for _ in range(rng.randint(1, 40)))
        if kind == 1:
            return "".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 120)))
        if kind == 2:
            return "".join(rng.choice(rare) for _ in range(rng.randint(1, 60)))
        parts = ["".join(rng.choice(CHINESE) for _ in range(rng.randint(1, 9))) for _ in range(6)]
        return rng.choice([" ", "\n", "x ", " 42 "]).join(parts)

    rows = []
    for _ in range(count):
        messages = [{"role": "system", "content": text()}] if rng.random() < 0.3 else []
        for _ in range(rng.randint(1, 4)):
            messages += [{"role": "user", "content": text()}, {"role": "assistant", "content": text()}]
        rows.append({"messages": messages})
    return rows


def test_batched_encoding_gives_each_rows_whole_text_tokens_with_the_real_tokenizer():
    """The fast path (words and ideographs from caches, Arrow columns written from flat
    arrays) gives every row the ids, labels and weights of the tokenizer's own call on its
    whole text, alone and in batches, with each truncation strategy."""
    import datasets

    from tunekite.data.encode import encode_dataset
    from tunekite.testing.encoding import reference_encoding

    rows = varied_rows(240)
    template = get_host().registry("templates").get("smollm2").build(smollm2_tokenizer())
    for options in (
        {},
        {"max_length": 200},
        {"max_length": 200, "truncation_strategy": "left"},
        {"max_length": 200, "truncation_strategy": "right"},
    ):
        variant = template.with_options(**options)
        expected = [reference_encoding(variant, row) for row in rows]
        assert [variant.encode(row) for row in rows[:40]] == expected[:40], options
        encoded, dropped = encode_dataset(datasets.Dataset.from_list(rows), variant, batch_size=64)
        assert encoded.to_list() == [e for e in expected if e is not None], options
        assert dropped == sum(e is None for e in expected)
        assert (0 < dropped < len(rows)) == (options == {"max_length": 200}), options


def test_ideograph_runs_are_cut_only_where_no_token_joins_the_neighbours():
    from tunekite.templates.ideographs import ideographs

    tokenizer = smollm2_tokenizer()
    table = ideographs(tokenizer.backend_tokenizer)
    strings = (tokenizer.convert_tokens_to_string([token]) for token in tokenizer.get_vocab())
    pairs = [s for s in strings if len(s) == 2 and all("\u4e00" <= c <= "\u9fff" for c in s)]
    assert "数据" in pairs
    for pair in pairs:
        cut = table.cut(f"说{pair}明")
        assert cut is not None and cut.starts.tolist() in ([0, 1, 3], [0, 3], [0, 1], [0]), pair
    text = "".join(pairs) + CHINESE
    cut = table.cut(text)
    stretches = [text[start:end] for start, end in zip(cut.starts, cut.ends, strict=True)]
    assert len(stretches) > len(text) / 2

    def alone(piece: str) -> list[int]:
        return tokenizer(piece, add_special_tokens=False)["input_ids"]

    assert [i for stretch in stretches for i in alone(stretch)] == alone(text)
