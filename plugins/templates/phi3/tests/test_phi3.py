"""Phi-3 against the chat template Phi-3-mini-4k-instruct ships (tokenizer_config.json,
the revision with a system role; Phi-3.5-mini-instruct's differs only in skipping an
empty system message). A finished conversation ends with EOS, a generation prompt with
`<|assistant|>\\n`."""

from tunekite.testing import TemplateConformance

PHI3 = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{'<|system|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'user' %}{{'<|user|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% elif message['role'] == 'assistant' %}{{'<|assistant|>\\n' + message['content'] + '<|end|>\\n'}}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% else %}{{ eos_token }}{% endif %}"
)


class TestPhi3(TemplateConformance):
    name = "phi3"
    chat_template = PHI3
    special_tokens = ("<|system|>", "<|user|>", "<|assistant|>", "<|end|>")
    bos_token = "<s>"
    eos_token = "<|endoftext|>"

    def test_conversation_ends_with_untrained_eos(self) -> None:
        tokenizer = self.tokenizer()
        encoded = self.template(tokenizer).encode(
            {
                "messages": [
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello"},
                ]
            }
        )
        assert encoded["input_ids"][-1] == tokenizer.eos_token_id
        assert encoded["labels"][-1] == -100
