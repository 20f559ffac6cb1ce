"""Tiny models built in a fixture: real architectures, seconds to build, no downloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHATML_JINJA = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tiny_causal_lm(seed: int = 0, vocab_size: int = 128, **config: Any) -> Any:
    """A two-layer Llama, deterministic for a seed; `config` overrides `LlamaConfig` fields
    (vLLM's CPU attention, for one, needs heads of at least 32: `hidden_size=64,
    num_attention_heads=2`)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    settings = {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 64,
        **config,
    }
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab_size, **settings))


def tiny_lora_model(dropout: float = 0.0) -> Any:
    """`tiny_causal_lm` under all-linear LoRA (r 4, alpha 8), in training mode, each `B`
    seeded non-zero: peft starts `B` at zero, which would make every `A` gradient zero."""
    import torch
    from peft import LoraConfig, get_peft_model

    settings = {"r": 4, "lora_alpha": 8, "lora_dropout": dropout, "target_modules": "all-linear"}
    model = get_peft_model(tiny_causal_lm(), LoraConfig(task_type="CAUSAL_LM", **settings))
    for name, param in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(param, std=0.1, generator=torch.Generator().manual_seed(len(name)))
    return model.train()


def save_tiny_chat_model(folder: Path, seed: int = 0, *, endless: bool = False, **config: Any) -> Path:
    """A tiny Llama and a ChatML tokenizer saved as a Hugging Face folder (what `--model` takes);
    `config` as in `tiny_causal_lm`. An `endless` model never writes a special token, so its
    replies run to `max_tokens` (long generations for tests of cancellation and shutdown)."""
    from tunekite.testing.tokenizers import tiny_tokenizer

    tokenizer = tiny_tokenizer(CHATML_JINJA, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    model = tiny_causal_lm(seed, vocab_size=len(tokenizer), **config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    if endless:
        model.generation_config.suppress_tokens = sorted(tokenizer.all_special_ids)
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_lora(model_dir: Path, folder: Path, seed: int) -> Path:
    """A LoRA adapter of the model saved in `model_dir`, with random (non-zero) A and B so its
    output differs from the base model's, saved in `folder` (what `--adapters` takes)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights="gaussian")
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(model_dir), config)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.5)
    model.save_pretrained(folder)
    return Path(folder)
