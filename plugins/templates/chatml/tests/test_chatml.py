"""Both ChatML templates against Jinja chat templates written the way their models ship them."""

from tunekite.testing import TemplateConformance

GENERIC_CHATML = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

SMOLLM2 = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, "
    "trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class TestChatml(TemplateConformance):
    name = "chatml"
    chat_template = GENERIC_CHATML
    special_tokens = ("<|im_start|>", "<|im_end|>")
    eos_token = "<|im_end|>"


class TestSmollm2(TemplateConformance):
    name = "smollm2"
    chat_template = SMOLLM2
    special_tokens = ("<|im_start|>", "<|im_end|>")
    eos_token = "<|im_end|>"
