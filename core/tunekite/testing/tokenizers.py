"""Tiny real tokenizers built offline in a fixture, with any family's chat template."""

from __future__ import annotations

import functools
from typing import Any

from tunekite.templates.samples import CONVERSATIONS

_CORPUS = [
    "The quick brown fox jumps over the lazy dog. 0123456789 + - * / = ? ! . , : ; ' \" ( ) [ ] { }",
    "你好，我是一个人工智能助手。你是谁？我们今天学习数学。",
    "system user assistant tool model Human Assistant Thought Action Input Observation Final Answer",
] + [m["content"] for conv in CONVERSATIONS.values() for m in conv]


@functools.lru_cache(maxsize=32)
def _bpe_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tok.train_from_iterator(_CORPUS * 4, trainer=trainer)
    return tok.to_str()


def tiny_tokenizer(
    chat_template: str | None = None,
    special_tokens: tuple[str, ...] = (),
    *,
    bos_token: str | None = None,
    eos_token: str = "<|endoftext|>",
    pad_token: str | None = None,
    vocab_size: int = 400,
) -> Any:
    """A byte-level BPE tokenizer (a few hundred tokens, trained in milliseconds) whose
    special tokens and Jinja chat template are the given family's."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_bpe_json(vocab_size))
    specials = list(dict.fromkeys(t for t in (eos_token, bos_token, pad_token, *special_tokens) if t))
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos_token,
        eos_token=eos_token,
        pad_token=pad_token or eos_token,
        additional_special_tokens=[t for t in specials if t not in (eos_token, bos_token, pad_token)],
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    if chat_template is not None:
        tokenizer.chat_template = chat_template
    return tokenizer
