# ruff: noqa: E501  (the official chat templates are quoted verbatim, long lines included)
"""Mistral against the chat template Mistral-7B-Instruct-v0.2 ships (tokenizer_config.json,
the revision that accepts a system message and joins it to the first user message).

v0.3's template is not the reference: it writes the system prompt before the last user
message only, so a finished conversation renders without it and a multi-turn prompt
moves it from turn to turn; training on that layout would teach nothing stable.
"""

from tunekite.testing import TemplateConformance

MISTRAL_V0_2 = """{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content'] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}
        {{- raise_exception('After the optional system message, conversation roles must alternate user/assistant/user/assistant/...') }}
    {%- endif %}
    {%- if message['role'] == 'user' %}
        {%- if loop.first and system_message is defined %}
            {{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}
        {%- else %}
            {{- ' [INST] ' + message['content'] + ' [/INST]' }}
        {%- endif %}
    {%- elif message['role'] == 'assistant' %}
        {{- ' ' + message['content'] + eos_token}}
    {%- else %}
        {{- raise_exception('Only user and assistant roles are supported, with the exception of an initial optional system message!') }}
    {%- endif %}
{%- endfor %}
"""


class TestMistral(TemplateConformance):
    name = "mistral"
    chat_template = MISTRAL_V0_2
    special_tokens = ("<s>", "</s>", "[INST]", "[/INST]")
    bos_token = "<s>"
    eos_token = "</s>"
