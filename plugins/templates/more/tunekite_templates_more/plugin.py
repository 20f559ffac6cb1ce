"""Registers the chat-template families that have no plugin of their own.

They share one distribution because each is a few lines of data (`formats.py`) checked by
one shared test file; a family that grows code of its own (reasoning tags, tool formats)
moves to a plugin of its own, as Qwen, Llama and DeepSeek have. Names follow ms-swift 3.x
where it has the family. Markers are substrings of each family's published Jinja chat
template that tell it apart from its neighbours (the most markers win on a tie).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from tunekite.api import ChatFormat, TemplateSpec, hookimpl
from tunekite_templates_more import formats as f


class Family(NamedTuple):
    format: ChatFormat
    summary: str
    markers: tuple[str, ...]
    aliases: tuple[str, ...] = ()


FAMILIES = (
    Family(
        f.PHI4,
        "Phi-4: <|im_start|>role<|im_sep|>content<|im_end|>",
        ("<|im_start|>", "<|im_sep|>", "<|im_end|>"),
    ),
    Family(f.INTERNLM2, "InternLM2/2.5/3 ChatML after BOS", ("bos_token", "<|im_start|>", "<|im_end|>")),
    Family(
        f.QWEN2_5_MATH,
        "Qwen2.5-Math ChatML with the 'Please reason step by step' default system",
        ("<|im_start|>", "<|im_end|>", "Please reason step by step"),
    ),
    Family(
        f.GRANITE,
        "IBM Granite 3: <|start_of_role|>role<|end_of_role|> ... <|end_of_text|>",
        ("<|start_of_role|>", "<|end_of_role|>"),
    ),
    Family(
        f.MEGREZ,
        "Megrez: <|role_start|>role<|role_end|> ... <|turn_end|>, Chinese default system",
        ("<|role_start|>", "<|role_end|>", "<|turn_end|>"),
    ),
    Family(
        f.LLAMA4,
        "Llama 4: <|header_start|>role<|header_end|> ... <|eot|>",
        ("<|header_start|>", "<|header_end|>", "<|eot|>"),
    ),
    Family(
        f.MOONLIGHT,
        "Moonlight (Kimi): <|im_user|>user<|im_middle|> ... <|im_end|>",
        ("<|im_user|>", "<|im_middle|>"),
    ),
    Family(
        f.COMMAND_R,
        "Cohere Command R: <|START_OF_TURN_TOKEN|><|USER_TOKEN|> ... <|END_OF_TURN_TOKEN|>",
        ("<|START_OF_TURN_TOKEN|>", "<|CHATBOT_TOKEN|>"),
        ("c4ai",),
    ),
    Family(
        f.AYA,
        "Cohere Aya: the Command R turns",
        ("<|START_OF_TURN_TOKEN|>", "<|CHATBOT_TOKEN|>", "You are Aya"),
    ),
    Family(
        f.EXAONE,
        "EXAONE 3.0: [|role|]content, replies ended by [|endofturn|]",
        ("[|endofturn|]", "[|system|]"),
    ),
    Family(
        f.EXAONE3_5,
        "EXAONE 3.5: EXAONE turns with its 'You are EXAONE model' default system",
        ("[|endofturn|]", "[|system|]", "You are EXAONE model from LG AI Research"),
    ),
    Family(
        f.TULU3,
        "Tülu 3 / Falcon 3: <|user|>\\n ... <|assistant|>\\n reply EOS",
        ("<|user|>", "<|assistant|>", "<|system|>", "eos_token + '\\n'"),
    ),
    Family(
        f.OLMO2,
        "OLMo 2: the Tülu 3 turns after BOS",
        ("<|user|>", "<|assistant|>", "<|system|>", "eos_token + '\\n'", "bos_token"),
    ),
    Family(
        f.ZEPHYR,
        "Zephyr: <|user|>\\n query EOS <|assistant|>\\n reply EOS",
        ("<|user|>", "<|assistant|>", "message['content'] + eos_token"),
    ),
    Family(
        f.OPENCHAT,
        "OpenChat 3.5 / Starling: GPT4 Correct User: ... <|end_of_turn|>",
        ("GPT4 Correct ", "<|end_of_turn|>"),
    ),
    Family(f.VICUNA, "Vicuna v1.1+: system USER: query ASSISTANT: reply</s>", ("' USER: '", "' ASSISTANT:'")),
    Family(
        f.ALPACA,
        "Alpaca: ### Instruction: / ### Response:, one EOS per reply",
        ("### Instruction:", "### Response:"),
    ),
    Family(
        f.DEEPSEEK_LLM,
        "DeepSeek LLM chat: User: query\\n\\nAssistant: reply EOS",
        ("'User: '", "'Assistant: '", "'Assistant:'"),
    ),
    Family(
        f.DEEPSEEK_CODER,
        "DeepSeek Coder instruct: ### Instruction: / ### Response: ... <|EOT|>",
        ("### Instruction:", "### Response:", "<|EOT|>"),
    ),
    Family(
        f.ERNIE4_5,
        "ERNIE 4.5: User: / Assistant: turns ended by <|end_of_sentence|>",
        ('"Assistant: "', "<|end_of_sentence|>"),
    ),
    Family(
        f.BAICHUAN,
        "Baichuan2 chat: <reserved_106>query<reserved_107>reply EOS",
        ("<reserved_106>", "<reserved_107>"),
    ),
    Family(f.MINICPM, "MiniCPM: <用户>query<AI>reply, EOS added after each reply", ("<用户>", "<AI>")),
    Family(f.TELECHAT, "TeleChat: <_user>query<_bot>reply<_end>", ("<_user>", "<_bot>")),
    Family(
        f.ORION,
        "Orion chat: Human: query\\n\\nAssistant: EOS reply EOS (no system role)",
        ("'Human: '", "\\n\\nAssistant: ' + eos_token", "bos_token", "loop.first"),
    ),
    Family(
        f.XVERSE,
        "XVERSE chat: Human: query\\n\\nAssistant: reply EOS",
        ("'Human: '", "\\n\\nAssistant: '", "message['content'] + eos_token"),
    ),
)


@hookimpl
def tk_register_templates(register: Callable[[TemplateSpec], None]) -> None:
    for family in FAMILIES:
        register(
            TemplateSpec(
                format=family.format,
                summary=family.summary,
                chat_template_markers=family.markers,
                aliases=family.aliases,
            )
        )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
