"""Registers ms-swift's `model_type` names for the major text families.

One distribution for all families rather than one per template plugin: a model type
only names its template (templates are looked up by name when a run starts), several
families share a template (yi and chatml) or an architecture (LlamaForCausalLM is
Llama 2, Llama 3.x, Yi, DeepSeek LLM and SmolLM2), and ms-swift's names are one table
best kept consistent in one place. Nothing here imports torch: loading goes through
core's Hugging Face loader, with `trust_remote_code` where the family's code ships with
its weights; every architecture not marked so is one transformers implements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from tunekite.api import ModelSpec, hookimpl

QWEN_SYSTEM = "You are a helpful assistant."
QWEN2_5_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
INTERNLM_SYSTEM = (
    "You are an AI assistant whose name is InternLM (书生·浦语).\n"
    "- InternLM (书生·浦语) is a conversational language model that is developed by Shanghai AI "
    "Laboratory (上海人工智能实验室). It is designed to be helpful, honest, and harmless.\n"
    "- InternLM (书生·浦语) can understand and communicate fluently in the language chosen by the "
    "user such as English and 中文."
)
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


class Family(NamedTuple):
    """One model type: its ms-swift name, what it is, its template, architectures, system."""

    name: str
    what: str
    template: str
    architectures: tuple[str, ...]
    default_system: str | None = None
    trust_remote_code: bool = False


FAMILIES = (
    Family("qwen", "Qwen (1.0) chat", "qwen", ("QWenLMHeadModel",), QWEN_SYSTEM, True),
    Family("qwen2", "Qwen2 / Qwen1.5 chat", "qwen", ("Qwen2ForCausalLM", "Qwen2MoeForCausalLM"), QWEN_SYSTEM),
    Family("qwen2_5", "Qwen2.5 instruct", "qwen2_5", ("Qwen2ForCausalLM",), QWEN2_5_SYSTEM),
    Family("qwen3", "Qwen3 (thinking)", "qwen3", ("Qwen3ForCausalLM", "Qwen3MoeForCausalLM")),
    Family("llama", "Llama 2 chat", "llama", ("LlamaForCausalLM",)),
    Family("llama3", "Llama 3 instruct", "llama3", ("LlamaForCausalLM",)),
    Family("llama3_1", "Llama 3.1 instruct", "llama3_1", ("LlamaForCausalLM",)),
    Family("llama3_2", "Llama 3.2 instruct (text)", "llama3_1", ("LlamaForCausalLM",)),
    Family("mistral", "Mistral instruct", "mistral", ("MistralForCausalLM",)),
    Family("mixtral", "Mixtral instruct (MoE)", "mistral", ("MixtralForCausalLM",)),
    Family("gemma", "Gemma instruct", "gemma", ("GemmaForCausalLM",)),
    Family("gemma2", "Gemma 2 instruct", "gemma", ("Gemma2ForCausalLM",)),
    Family("gemma3", "Gemma 3 instruct (text)", "gemma", ("Gemma3ForCausalLM",)),
    Family("phi3", "Phi-3 / Phi-3.5 instruct", "phi3", ("Phi3ForCausalLM",)),
    Family("phi4", "Phi-4", "phi4", ("Phi3ForCausalLM",)),
    Family("glm4", "GLM-4 chat", "glm4", ("GlmForCausalLM", "Glm4ForCausalLM")),
    Family("deepseek", "DeepSeek LLM chat", "deepseek_llm", ("LlamaForCausalLM",)),
    Family("deepseek_v2", "DeepSeek-V2 / V2.5 chat", "deepseek", ("DeepseekV2ForCausalLM",)),
    Family("deepseek_v3", "DeepSeek-V3", "deepseek", ("DeepseekV3ForCausalLM",)),
    Family(
        "deepseek_r1_distill",
        "DeepSeek-R1 distilled into Qwen2.5 / Llama",
        "deepseek_r1",
        ("Qwen2ForCausalLM", "LlamaForCausalLM"),
    ),
    Family(
        "internlm2", "InternLM2 / 2.5 chat", "internlm2", ("InternLM2ForCausalLM",), INTERNLM_SYSTEM, True
    ),
    Family("internlm3", "InternLM3 instruct", "internlm2", ("InternLM3ForCausalLM",), INTERNLM_SYSTEM, True),
    Family("yi", "Yi chat", "chatml", ("LlamaForCausalLM",)),
    Family("baichuan2", "Baichuan2 chat", "baichuan", ("BaichuanForCausalLM",), None, True),
    Family("minicpm", "MiniCPM chat", "minicpm", ("MiniCPMForCausalLM",), None, True),
    Family("olmo2", "OLMo 2 instruct", "olmo2", ("Olmo2ForCausalLM",)),
    Family("smollm2", "SmolLM2 instruct", "smollm2", ("LlamaForCausalLM",), SMOLLM2_SYSTEM),
)


def spec(family: Family) -> ModelSpec:
    """The registration of one model type (its summary names template and architectures)."""
    remote = ", trust_remote_code" if family.trust_remote_code else ""
    return ModelSpec(
        name=family.name,
        summary=f"{family.what}: template {family.template}, {'/'.join(family.architectures)}{remote}",
        template=family.template,
        architectures=family.architectures,
        default_system=family.default_system,
        trust_remote_code=family.trust_remote_code,
    )


@hookimpl
def tk_register_models(register: Callable[[ModelSpec], None]) -> None:
    for family in FAMILIES:
        register(spec(family))


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
