# ruff: noqa: E501  (published chat templates are quoted as the models ship them, long lines included)
"""Each family against its published chat template (tokenizer_config.json of the model
named in the comment; for Baichuan2, TeleChat and XVERSE, which ship none, the format of
their model cards written as Jinja), with the family's special tokens."""

from __future__ import annotations

from tunekite.testing import TemplateConformance

# microsoft/phi-4
PHI4 = (
    "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + message['content'] + '<|im_end|>'}}"
    "{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + message['content'] + '<|im_end|>'}}"
    "{% elif (message['role'] == 'assistant') %}{{'<|im_start|>assistant<|im_sep|>' + message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)

# internlm/internlm2_5-7b-chat
INTERNLM2 = (
    "{{ bos_token }}{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# Qwen/Qwen2.5-Math-7B-Instruct (the tool-less branch)
QWEN2_5_MATH = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nPlease reason step by step, and put your final answer within \\\\boxed{}.<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# ibm-granite/granite-3.0-8b-instruct (the tool-less branch)
GRANITE = (
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{{- '<|start_of_role|>system<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}"
    "{%- elif message['role'] == 'user' %}{{- '<|start_of_role|>user<|end_of_role|>' + message['content'] + '<|end_of_text|>\\n' }}"
    "{%- elif message['role'] == 'assistant' %}{{- '<|start_of_role|>assistant<|end_of_role|>'  + message['content'] + '<|end_of_text|>\\n' }}{%- endif %}"
    "{%- if loop.last and add_generation_prompt %}{{- '<|start_of_role|>assistant<|end_of_role|>' }}{%- endif %}{%- endfor %}"
)

# Infinigence/Megrez-3B-Instruct
MEGREZ = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|role_start|>system<|role_end|>你是Megrez-3B-Instruct，将针对用户的问题给出详细的、积极的回答。<|turn_end|>' }}{% endif %}"
    "{{ '<|role_start|>' + message['role'] + '<|role_end|>' + message['content'] + '<|turn_end|>' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|role_start|>assistant<|role_end|>' }}{% endif %}"
)

# meta-llama/Llama-4-Scout-17B-16E-Instruct (text messages, no tools)
LLAMA4 = (
    "{{- bos_token }}{%- if messages[0]['role'] == 'system' %}{%- set system_message = messages[0]['content']|trim %}{%- set messages = messages[1:] %}"
    "{{- '<|header_start|>system<|header_end|>\\n\\n' + system_message + '<|eot|>' }}{%- endif %}"
    "{%- for message in messages %}{{- '<|header_start|>' + message['role'] + '<|header_end|>\\n\\n' }}{{- message['content'] | trim }}{{- '<|eot|>' }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|header_start|>assistant<|header_end|>\\n\\n' }}{%- endif %}"
)

# moonshotai/Moonlight-16B-A3B-Instruct
MOONLIGHT = (
    "{%- for message in messages -%}{%- if loop.first and messages[0]['role'] != 'system' -%}"
    "<|im_system|>system<|im_middle|>You are a helpful assistant<|im_end|>{%- endif -%}"
    "{%- if message['role'] == 'system' -%}<|im_system|>{%- endif -%}{%- if message['role'] == 'user' -%}<|im_user|>{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}<|im_assistant|>{%- endif -%}"
    "{{ message['role'] }}<|im_middle|>{{message['content']}}<|im_end|>{%- endfor -%}"
    "{%- if add_generation_prompt -%}<|im_assistant|>assistant<|im_middle|>{%- endif -%}"
)


def cohere(default_system: str) -> str:
    """The default chat template of CohereForAI/c4ai-command-r-v01 and aya-23/aya-expanse."""
    return (
        "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
        f"{{% elif false == true %}}{{% set loop_messages = messages %}}{{% set system_message = '{default_system}' %}}"
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}"
        "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
        "{% set content = message['content'] %}{% if message['role'] == 'user' %}"
        "{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}"
        "{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
    )


COMMAND_R = cohere(
    "You are Command-R, a brilliant, sophisticated, AI-assistant trained to assist human users by providing thorough responses. You are trained by Cohere."
)
AYA = cohere(
    "You are Aya, a brilliant, sophisticated, multilingual AI-assistant trained to assist human users by providing thorough responses. You are able to interact and respond to questions in 23 languages and you are powered by a multilingual model built by Cohere For AI."
)


def exaone(default_system: str) -> str:
    """LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct (empty default) and EXAONE-3.5-7.8B-Instruct."""
    return (
        "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
        f"{{{{ '[|system|]{default_system}[|endofturn|]\\n' }}}}{{% endif %}}"
        "{{ '[|' + message['role'] + '|]' + message['content'] }}{% if message['role'] == 'user' %}{{ '\\n' }}"
        "{% else %}{{ '[|endofturn|]\\n' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}"
    )


EXAONE = exaone("")
EXAONE3_5 = exaone("You are EXAONE model from LG AI Research, a helpful assistant.")

# allenai/Llama-3.1-Tulu-3-8B (also tiiuae/Falcon3-7B-Instruct); OLMo 2 writes BOS first
_TULU_TURNS = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + '\\n' }}"
    "{% elif message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\\n'  + message['content'] + eos_token + '\\n' }}"
    "{% else %}{{ '<|assistant|>\\n'  + message['content'] + eos_token }}{% endif %}{% endif %}"
    "{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}{% endfor %}"
)
TULU3 = _TULU_TURNS
OLMO2 = "{{ bos_token }}" + _TULU_TURNS  # allenai/OLMo-2-1124-7B-Instruct

# HuggingFaceH4/zephyr-7b-beta (newlines after expressions are kept, after block tags trimmed)
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'system' %}\n{{ '<|system|>\\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}"
)

# openchat/openchat-3.5-0106 (also Nexusflow/Starling-LM-7B-beta)
OPENCHAT = (
    "{{ bos_token }}{% for message in messages %}{{ 'GPT4 Correct ' + message['role'].title() + ': ' + message['content'] + '<|end_of_turn|>'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'GPT4 Correct Assistant:' }}{% endif %}"
)

# lmsys/vicuna-7b-v1.5 (FastChat's vicuna_v1.1 conversation as a chat template)
VICUNA = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}"
    '{% else %}{% set loop_messages = messages %}{% set system_message = "A chat between a curious user and an artificial intelligence assistant. The assistant gives helpful, detailed, and polite answers to the user\'s questions." %}{% endif %}'
    "{{ system_message }}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ ' USER: ' + message['content'] }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ASSISTANT: ' + message['content'] + eos_token }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ ' ASSISTANT:' }}{% endif %}"
)

# tatsu-lab/alpaca's prompt, one EOS per reply
ALPACA = (
    "{% if messages[0]['role'] == 'system' %}{{ messages[0]['content'] + '\\n\\n' }}{% set loop_messages = messages[1:] %}"
    "{% else %}{{ 'Below is an instruction that describes a task. Write a response that appropriately completes the request.\\n\\n' }}{% set loop_messages = messages %}{% endif %}"
    "{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ '### Instruction:\\n' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '### Response:\\n' + message['content'] + eos_token + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '### Response:\\n' }}{% endif %}"
)

# deepseek-ai/deepseek-llm-7b-chat
DEEPSEEK_LLM = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}{{ bos_token }}"
    "{% for message in messages %}{% if message['role'] == 'user' %}{{ 'User: ' + message['content'] + '\\n\\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}"
    "{% elif message['role'] == 'system' %}{{ message['content'] + '\\n\\n' }}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

# deepseek-ai/deepseek-coder-6.7b-instruct
DEEPSEEK_CODER = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{%- set ns = namespace(found=false) -%}{%- for message in messages -%}{%- if message['role'] == 'system' -%}{%- set ns.found = true -%}{%- endif -%}{%- endfor -%}"
    "{{bos_token}}{%- if not ns.found -%}"
    "{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\\n'}}"
    "{%- endif %}{%- for message in messages %}{%- if message['role'] == 'system' %}{{ message['content'] }}"
    "{%- else %}{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + '\\n'}}"
    "{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}{%- endif %}{%- endif %}{%- endfor %}"
    "{% if add_generation_prompt %}{{'### Response:'}}{% endif %}"
)

# baidu/ERNIE-4.5-0.3B-PT
ERNIE4_5 = (
    "{%- if not add_generation_prompt is defined -%}{%- set add_generation_prompt = true -%}{%- endif -%}"
    '{%- if not cls_token is defined -%}{%- set cls_token = "<|begin_of_sentence|>" -%}{%- endif -%}'
    '{%- if not sep_token is defined -%}{%- set sep_token = "<|end_of_sentence|>" -%}{%- endif -%}{{- cls_token -}}'
    '{%- for message in messages -%}{%- if message["role"] == "user" -%}{{- "User: " + message["content"] + "\\n" -}}'
    '{%- elif message["role"] == "assistant" -%}{{- "Assistant: " + message["content"] + sep_token -}}'
    '{%- elif message["role"] == "system" -%}{{- message["content"] + "\\n" -}}{%- endif -%}{%- endfor -%}'
    '{%- if add_generation_prompt -%}{{- "Assistant: " -}}{%- endif -%}'
)

# baichuan-inc/Baichuan2-7B-Chat (user/assistant token ids 195/196 as text)
BAICHUAN = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ '<reserved_106>' + message['content'] + '<reserved_107>' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)

# openbmb/MiniCPM-2B-sft-bf16
MINICPM = (
    "{% for message in messages %}{% if message['role'] == 'user' %}{{'<用户>' + message['content'].strip() + '<AI>'}}"
    "{% else %}{{message['content'].strip()}}{% endif %}{% endfor %}"
)

# Tele-AI/telechat-7B
TELECHAT = (
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{{- '<_system>' + message['content'] }}"
    "{%- elif message['role'] == 'user' %}{{- '<_user>' + message['content'] + '<_bot>' }}"
    "{%- elif message['role'] == 'assistant' %}{{- message['content'] + '<_end>' }}{%- endif %}{%- endfor %}"
)

# OrionStarAI/Orion-14B-Chat
ORION = (
    "{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nAssistant: ' + eos_token }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)

# xverse/XVERSE-13B-Chat
XVERSE = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ message['content'] }}"
    "{% elif message['role'] == 'user' %}{{ 'Human: ' + message['content'] + '\\n\\nAssistant: ' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}"
)


class TestPhi4(TemplateConformance):
    name, chat_template, eos_token = "phi4", PHI4, "<|im_end|>"
    special_tokens = ("<|im_start|>", "<|im_sep|>", "<|im_end|>")


class TestInternLM2(TemplateConformance):
    name, chat_template, bos_token, eos_token = "internlm2", INTERNLM2, "<s>", "</s>"
    special_tokens = ("<|im_start|>", "<|im_end|>")


class TestQwen2_5Math(TemplateConformance):
    name, chat_template, eos_token = "qwen2_5_math", QWEN2_5_MATH, "<|im_end|>"
    special_tokens = ("<|im_start|>", "<|im_end|>")


class TestGranite(TemplateConformance):
    name, chat_template, eos_token = "granite", GRANITE, "<|end_of_text|>"
    special_tokens = ("<|start_of_role|>", "<|end_of_role|>")


class TestMegrez(TemplateConformance):
    name, chat_template, eos_token = "megrez", MEGREZ, "<|turn_end|>"
    special_tokens = ("<|role_start|>", "<|role_end|>")


class TestLlama4(TemplateConformance):
    name, chat_template, bos_token, eos_token = "llama4", LLAMA4, "<|begin_of_text|>", "<|eot|>"
    special_tokens = ("<|header_start|>", "<|header_end|>")


class TestMoonlight(TemplateConformance):
    name, chat_template, eos_token = "moonlight", MOONLIGHT, "[EOS]"
    special_tokens = ("<|im_system|>", "<|im_user|>", "<|im_assistant|>", "<|im_middle|>", "<|im_end|>")


_COHERE_TOKENS = ("<|START_OF_TURN_TOKEN|>", "<|SYSTEM_TOKEN|>", "<|USER_TOKEN|>", "<|CHATBOT_TOKEN|>")


class TestCommandR(TemplateConformance):
    name, chat_template, bos_token, eos_token = "command_r", COMMAND_R, "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"
    special_tokens = _COHERE_TOKENS


class TestAya(TemplateConformance):
    name, chat_template, bos_token, eos_token = "aya", AYA, "<BOS_TOKEN>", "<|END_OF_TURN_TOKEN|>"
    special_tokens = _COHERE_TOKENS


_EXAONE_TOKENS = ("[|system|]", "[|user|]", "[|assistant|]")


class TestExaone(TemplateConformance):
    name, chat_template, eos_token = "exaone", EXAONE, "[|endofturn|]"
    special_tokens = _EXAONE_TOKENS


class TestExaone3_5(TemplateConformance):
    name, chat_template, eos_token = "exaone3_5", EXAONE3_5, "[|endofturn|]"
    special_tokens = _EXAONE_TOKENS


_TULU_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")


class TestTulu3(TemplateConformance):
    name, chat_template, eos_token = "tulu3", TULU3, "<|end_of_text|>"
    special_tokens = _TULU_TOKENS


class TestOlmo2(TemplateConformance):
    name, chat_template, bos_token, eos_token = "olmo2", OLMO2, "<|endoftext|>", "<|endoftext|>"
    special_tokens = _TULU_TOKENS


class TestZephyr(TemplateConformance):
    name, chat_template, eos_token = "zephyr", ZEPHYR, "</s>"
    special_tokens = _TULU_TOKENS


class TestOpenChat(TemplateConformance):
    name, chat_template, bos_token, eos_token = "openchat", OPENCHAT, "<s>", "<|end_of_turn|>"


class TestVicuna(TemplateConformance):
    name, chat_template, bos_token, eos_token = "vicuna", VICUNA, "<s>", "</s>"


class TestAlpaca(TemplateConformance):
    name, chat_template, eos_token = "alpaca", ALPACA, "</s>"


class TestDeepseekLLM(TemplateConformance):
    name, chat_template = "deepseek_llm", DEEPSEEK_LLM
    bos_token, eos_token = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"


class TestDeepseekCoder(TemplateConformance):
    name, chat_template = "deepseek_coder", DEEPSEEK_CODER
    bos_token, eos_token = "<｜begin▁of▁sentence｜>", "<|EOT|>"


class TestErnie4_5(TemplateConformance):
    name, chat_template, eos_token = "ernie4_5", ERNIE4_5, "</s>"
    special_tokens = ("<|begin_of_sentence|>", "<|end_of_sentence|>")


class TestBaichuan(TemplateConformance):
    name, chat_template, bos_token, eos_token = "baichuan", BAICHUAN, "<s>", "</s>"
    special_tokens = ("<reserved_106>", "<reserved_107>")


class TestMiniCPM(TemplateConformance):
    """No id parity (see `formats.MINICPM`); the labels and end-of-turn checks still run."""

    name, chat_template, bos_token, eos_token = "minicpm", MINICPM, "<s>", "</s>"
    special_tokens = ("<用户>", "<AI>")

    def test_published_template_writes_no_end_of_turn_so_jinja_training_refuses(self) -> None:
        import pytest

        from tunekite.api import TunekiteError

        tokenizer = self.tokenizer()
        jinja = self.template(tokenizer).with_options(backend="jinja")
        conversation = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
        with pytest.raises(TunekiteError, match="no end-of-turn marker"):
            jinja.encode({"messages": conversation})


class TestTeleChat(TemplateConformance):
    name, chat_template, eos_token = "telechat", TELECHAT, "<_end>"
    special_tokens = ("<_system>", "<_user>", "<_bot>")


class TestOrion(TemplateConformance):
    name, chat_template, bos_token, eos_token = "orion", ORION, "<s>", "</s>"


class TestXverse(TemplateConformance):
    name, chat_template, eos_token = "xverse", XVERSE, "<|endoftext|>"
