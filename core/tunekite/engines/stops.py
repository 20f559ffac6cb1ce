"""Where a reply ends, by one rule for every engine: the pt engine, vLLM and LMDeploy.

A reply ends at the first stop word: the template's own (its end-of-turn and stop words)
or one the request adds. The template's end-of-turn and the tokenizer's EOS are removed
from the reply; the request's stop words stay in it (ms-swift's behaviour). While
streaming, text that may still become a stop word is held back, so the deltas join to
exactly the reply `infer` returns. Plain Python: importing this imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StopWords:
    """A template's stop words for one tokenizer, and the cutting of replies at them.

    `words` are the template's stop words; `stripped` those (with EOS) that are removed
    from a reply rather than kept; `token_ids` are the words that are special tokens, as ids
    (what generation stops at: `eos_token_id`, `stop_token_ids`), `strings` the others
    (stop strings). Every method takes the request's own stop words as `extra`.
    """

    words: tuple[str, ...]
    stripped: tuple[str, ...] = ()
    token_ids: tuple[int, ...] = ()
    strings: tuple[str, ...] = ()

    @classmethod
    def of(cls, template: Any, tokenizer: Any) -> StopWords:
        """The stop words of a `tunekite.api.Template` for its tokenizer."""
        special = set(tokenizer.all_special_tokens) | set(tokenizer.get_added_vocab())
        ends = (template.format.assistant_end, *template.format.stop_words, tokenizer.eos_token)
        words = tuple(template.stop_words)
        return cls(
            words=words,
            stripped=tuple(dict.fromkeys(w for w in ends if w)),
            token_ids=tuple(tokenizer.convert_tokens_to_ids(w) for w in words if w in special),
            strings=tuple(w for w in words if w not in special),
        )

    def cut(self, text: str, extra: Sequence[str] = ()) -> tuple[str, bool]:
        """The reply up to the first stop word and whether one was found; the template's
        end-of-turn and EOS are dropped, other stop words kept."""
        hits = [(text.find(w), w) for w in (*self.words, *extra) if w and w in text]
        if not hits:
            return text, False
        position, word = min(hits)
        return (text[:position] if word in self.stripped else text[: position + len(word)]), True

    def settled(self, text: str, extra: Sequence[str] = ()) -> tuple[str, bool]:
        """The part of a reply generated so far that can no longer change, and whether the
        reply has ended: stop words are cut as `cut` cuts them, and an end that may still
        become one (or is half a character, U+FFFD) is held back."""
        reply, stopped = self.cut(text, extra)
        if stopped:
            return reply, True
        end = len(text) - partial_stop(text, (*self.words, *extra))
        while end and text[end - 1] == "\ufffd":
            end -= 1
        return text[:end], False

    def stream(
        self, pieces: Iterable[str], extra: Sequence[str] = (), *, cumulative: bool = False
    ) -> Iterator[str]:
        """Text deltas of a reply from the text a generation produces: `pieces` are new text
        (or, with `cumulative`, the whole text so far). The deltas join to `cut` of the
        whole text; once a stop word is reached `pieces` is closed (if it can be), which
        lets an engine abort the generation."""
        iterator = iter(pieces)
        text, sent = "", 0
        try:
            for piece in iterator:
                text = piece if cumulative else text + piece
                reply, stopped = self.settled(text, extra)
                if len(reply) > sent:
                    yield reply[sent:]
                    sent = len(reply)
                if stopped:
                    return
            reply, _ = self.cut(text, extra)
            if len(reply) > sent:
                yield reply[sent:]
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()


def partial_stop(text: str, words: Iterable[str]) -> int:
    """Length of the longest end of `text` that begins some stop word (held back while streaming)."""
    longest = 0
    for word in words:
        for size in range(min(len(word) - 1, len(text)), longest, -1):
            if text.endswith(word[:size]):
                longest = size
                break
    return longest
