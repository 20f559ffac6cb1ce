"""Tiny models built in a fixture: real architectures, seconds to build, no downloads."""

from __future__ import annotations

from typing import Any


def tiny_causal_lm(seed: int = 0) -> Any:
    """A two-layer Llama with a 128-token vocabulary, deterministic for a seed."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    return LlamaForCausalLM(config)
