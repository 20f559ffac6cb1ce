"""The chat formats, as literal text around each message (see `tunekite.api.ChatFormat`).

Each is written from the family's published chat template (its tokenizer_config.json)
or, for families that ship none (Baichuan2, TeleChat, XVERSE), from the format its
model card and ms-swift use; the plugin's tests check each against that Jinja text.
"""

from __future__ import annotations

from dataclasses import replace

from tunekite.api import ChatFormat


def chatml_like(name: str, open_: str, middle: str, end: str, **extra: object) -> ChatFormat:
    """`{open_}role{middle}content{end}` turns (ChatML and its relatives)."""
    return ChatFormat(
        name=name,
        system=f"{open_}system{middle}{{content}}{end}",
        user=f"{open_}user{middle}{{content}}{end}",
        assistant_header=f"{open_}assistant{middle}",
        assistant_end=end.rstrip("\n"),
        turn_sep=end[len(end.rstrip("\n")) :],
        **extra,  # type: ignore[arg-type]
    )


PHI4 = chatml_like("phi4", "<|im_start|>", "<|im_sep|>", "<|im_end|>")
INTERNLM2 = chatml_like("internlm2", "<|im_start|>", "\n", "<|im_end|>\n", bos="{bos}")
QWEN2_5_MATH = chatml_like(
    "qwen2_5_math",
    "<|im_start|>",
    "\n",
    "<|im_end|>\n",
    default_system="Please reason step by step, and put your final answer within \\boxed{}.",
)
GRANITE = chatml_like("granite", "<|start_of_role|>", "<|end_of_role|>", "<|end_of_text|>\n")
MEGREZ = chatml_like(
    "megrez",
    "<|role_start|>",
    "<|role_end|>",
    "<|turn_end|>",
    default_system="你是Megrez-3B-Instruct，将针对用户的问题给出详细的、积极的回答。",
)
LLAMA4 = chatml_like("llama4", "<|header_start|>", "<|header_end|>\n\n", "<|eot|>", bos="{bos}")

MOONLIGHT = ChatFormat(
    name="moonlight",
    system="<|im_system|>system<|im_middle|>{content}<|im_end|>",
    user="<|im_user|>user<|im_middle|>{content}<|im_end|>",
    assistant_header="<|im_assistant|>assistant<|im_middle|>",
    assistant_end="<|im_end|>",
    default_system="You are a helpful assistant",
)

COMMAND_R = ChatFormat(
    name="command_r",
    bos="{bos}",
    system="<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>{content}<|END_OF_TURN_TOKEN|>",
    user="<|START_OF_TURN_TOKEN|><|USER_TOKEN|>{content}<|END_OF_TURN_TOKEN|>",
    assistant_header="<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>",
    assistant_end="<|END_OF_TURN_TOKEN|>",
)
AYA = replace(COMMAND_R, name="aya")

EXAONE = ChatFormat(
    name="exaone",
    system="[|system|]{content}[|endofturn|]\n",
    always_system=True,
    user="[|user|]{content}\n",
    assistant_header="[|assistant|]",
    assistant_end="[|endofturn|]",
    turn_sep="\n",
)
EXAONE3_5 = replace(
    EXAONE, name="exaone3_5", default_system="You are EXAONE model from LG AI Research, a helpful assistant."
)

TULU3 = ChatFormat(
    name="tulu3",
    system="<|system|>\n{content}\n",
    user="<|user|>\n{content}\n",
    user_after_reply="\n<|user|>\n{content}\n",
    assistant_header="<|assistant|>\n",
    assistant_end="{eos}",
)
OLMO2 = replace(TULU3, name="olmo2", bos="{bos}")

ZEPHYR = ChatFormat(
    name="zephyr",
    system="<|system|>\n{content}{eos}\n",
    user="<|user|>\n{content}{eos}\n",
    assistant_header="<|assistant|>\n",
    assistant_end="{eos}",
    turn_sep="\n",
)

OPENCHAT = ChatFormat(
    name="openchat",
    bos="{bos}",
    system="GPT4 Correct System: {content}<|end_of_turn|>",
    user="GPT4 Correct User: {content}<|end_of_turn|>",
    assistant_header="GPT4 Correct Assistant:",
    assistant=" {content}",
    assistant_end="<|end_of_turn|>",
)

VICUNA = ChatFormat(
    name="vicuna",
    system="{content}",
    default_system=(
        "A chat between a curious user and an artificial intelligence assistant. "
        "The assistant gives helpful, detailed, and polite answers to the user's questions."
    ),
    user=" USER: {content}",
    assistant_header=" ASSISTANT:",
    assistant=" {content}",
    assistant_end="{eos}",
)

ALPACA = ChatFormat(
    name="alpaca",
    system="{content}\n\n",
    default_system=(
        "Below is an instruction that describes a task. Write a response that appropriately "
        "completes the request."
    ),
    user="### Instruction:\n{content}\n\n",
    assistant_header="### Response:\n",
    assistant_end="{eos}",
    turn_sep="\n\n",
)

DEEPSEEK_LLM = ChatFormat(
    name="deepseek_llm",
    bos="{bos}",
    system="{content}\n\n",
    user="User: {content}\n\n",
    assistant_header="Assistant:",
    assistant=" {content}",
    assistant_end="{eos}",
)

DEEPSEEK_CODER = ChatFormat(
    name="deepseek_coder",
    bos="{bos}",
    system="{content}",
    default_system=(
        "You are an AI programming assistant, utilizing the Deepseek Coder model, developed by "
        "Deepseek Company, and you only answer questions related to computer science. For "
        "politically sensitive questions, security and privacy issues, and other non-computer "
        "science questions, you will refuse to answer\n"
    ),
    user="### Instruction:\n{content}\n",
    assistant_header="### Response:",
    assistant="\n{content}\n",
    assistant_end="<|EOT|>",
    turn_sep="\n",
)

ERNIE4_5 = ChatFormat(
    name="ernie4_5",
    bos="<|begin_of_sentence|>",
    system="{content}\n",
    user="User: {content}\n",
    assistant_header="Assistant: ",
    assistant_end="<|end_of_sentence|>",
)

BAICHUAN = ChatFormat(
    name="baichuan",
    system="{content}",
    user="<reserved_106>{content}<reserved_107>",
    assistant_header="",
    assistant_end="{eos}",
)

MINICPM = ChatFormat(
    name="minicpm",
    system="{content}",
    user="<用户>{content}<AI>",
    assistant_header="",
    assistant_end="{eos}",
    jinja_parity=False,
)
"""MiniCPM's published template writes no end-of-turn after a reply, so a model trained
on it would never stop; like ms-swift, EOS ends each reply here (hence no Jinja parity)."""

TELECHAT = ChatFormat(
    name="telechat",
    system="<_system>{content}",
    user="<_user>{content}<_bot>",
    assistant_header="",
    assistant_end="<_end>",
)

ORION = ChatFormat(
    name="orion",
    bos="{bos}",
    system_in_user="{content}",  # Orion's template drops system messages
    user="Human: {content}\n\nAssistant: {eos}",
    assistant_header="",
    assistant_end="{eos}",
)

XVERSE = ChatFormat(
    name="xverse",
    system="{content}",
    user="Human: {content}\n\nAssistant: ",
    assistant_header="",
    assistant_end="{eos}",
)
