"""Core's `jinja` template: any chat template, trained through prefix renders, passes the
conformance suite every registered template passes."""

from __future__ import annotations

import pytest

from tunekite.builtins.jinja import jinja_template
from tunekite.errors import ArgumentError
from tunekite.templates.jinja import end_marker
from tunekite.testing import TemplateConformance, tiny_tokenizer

# A format no family uses: numbered questions, replies fenced by a marker, a closing line.
ODD = (
    "{% for m in messages %}{% if m['role'] == 'system' %}<<sys>>{{ m['content'] }}<</sys>>\n"
    "{% elif m['role'] == 'user' %}>>> Q{{ loop.index }}: {{ m['content'] }}\n"
    "{% else %}<<< {{ m['content'] }} <|stop|>\n\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<<< {% else %}-- end --{% endif %}"
)


class TestJinjaTemplate(TemplateConformance):
    name = "jinja"
    chat_template = ODD
    special_tokens = ("<|stop|>",)
    eos_token = "<|stop|>"

    def test_the_end_of_turn_marker_is_read_from_the_template(self) -> None:
        assert self.template().format.assistant_end == " <|stop|>"

    def test_the_closing_line_is_not_trained(self) -> None:
        tokenizer = self.tokenizer()
        conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        encoded = self.template(tokenizer).encode({"messages": conversation})
        closing = tokenizer("-- end --", add_special_tokens=False)["input_ids"]
        assert encoded["input_ids"][-len(closing) :] == closing
        assert set(encoded["labels"][-len(closing) :]) == {-100}


def test_end_marker_prefers_a_special_token_then_the_first_word() -> None:
    tokenizer = tiny_tokenizer(None, ("<|im_end|>", "<|endoftext|>"))
    assert end_marker(tokenizer, "<|im_end|>\n<|im_start|>") == "<|im_end|>"
    assert end_marker(tokenizer, "<|im_end|><|endoftext|>") == "<|im_end|>"
    assert end_marker(tokenizer, " </s>\n\n") == " </s>"
    assert end_marker(tokenizer, "\n\n") == ""


def test_a_tokenizer_without_a_chat_template_is_refused() -> None:
    with pytest.raises(ArgumentError, match="no chat template"):
        jinja_template(None, tiny_tokenizer(None))
