"""Where a run of CJK ideographs can be cut without changing a byte-level BPE's tokens.

Chinese text has no spaces, so a whole reply is one pre-token, tokenized afresh in every
row. BPE only joins two adjacent symbols when some merge lists them; the first merge to
cross a boundary between two characters joins a symbol ending in the left character's
last byte to one starting with the right character's first byte, and makes a token
holding those two bytes side by side. Where no token in the vocabulary does, nothing
ever crosses the boundary, so the text on either side tokenizes alone into exactly its
share of the whole text's tokens. Between two ideographs (both letters of the same
`\\p{L}+` pre-token) the pre-tokenizer cuts nowhere new either. So a run is cut between
every such pair, and each ideograph standing alone takes its tokens from a table filled
as ideographs are first seen.
"""

from __future__ import annotations

import re
from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np

_RANGES = ((0x3400, 0x4DBF), (0x4E00, 0x9FFF))
"""CJK Unified Ideographs and Extension A: letters, three bytes each in UTF-8."""
_CLASS = "".join(f"{chr(low)}-{chr(high)}" for low, high in _RANGES)
_END = _RANGES[-1][1] + 1


class Ideographs:
    """Each ideograph's tokens alone, and which neighbouring ideographs may be joined."""

    def __init__(self, backend: Any, pairs: set[tuple[int, int]]) -> None:
        self.backend = backend
        self.count = np.full(_END, -1, dtype=np.int64)
        """Tokens of each ideograph alone; -1 until it is first seen."""
        self.ids = np.zeros((_END, 3), dtype=np.int64)  # three bytes: at most three tokens
        self.apart = np.ones((64, 16), dtype=bool)
        """apart[x & 0x3F, y & 0x0F]: no token holds byte x then three-byte lead y."""
        for last, first in pairs:
            if 0x80 <= last <= 0xBF and 0xE0 <= first <= 0xEF:
                self.apart[last & 0x3F, first & 0x0F] = False

    def _learn(self, codes: np.ndarray) -> None:
        """Tokenize the ideographs among `codes` not seen before, in one batched call."""
        new = np.unique(codes[self.count[codes] < 0]).tolist()
        if new:
            encodings = self.backend.encode_batch([chr(code) for code in new], add_special_tokens=False)
            for code, encoding in zip(new, encodings, strict=True):
                self.count[code] = len(encoding.ids)
                self.ids[code, : len(encoding.ids)] = encoding.ids

    def cut(self, text: str) -> Cut | None:
        """`text` cut between every pair of ideographs no token joins; None: no such pair."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        ideograph = np.zeros(len(codes), dtype=bool)
        for low, high in _RANGES:
            ideograph |= (codes >= low) & (codes <= high)
        cut = ideograph[:-1] & ideograph[1:] & self.apart[codes[:-1] & 0x3F, (codes[1:] >> 12) & 0x0F]
        at = np.flatnonzero(cut) + 1
        if not len(at):
            return None
        starts, ends = np.concatenate(([0], at)), np.concatenate((at, [len(codes)]))
        alone = ends - starts == 1
        alone[0] = False  # the first stretch may follow a space: tokenized with it
        self._learn(codes[starts[alone]])
        return Cut(codes, starts, ends, alone, np.flatnonzero(~alone).tolist())

    def compose(
        self, cut: Cut, others: list[tuple[list[int], Any]], shift: int
    ) -> tuple[list[int], list[int], list[int]]:
        """The ids of a cut text, given its other stretches' ids (and last characters);
        with each stretch's first character (`shift` after the first: its leading space)
        and first token, and the token count at the end."""
        counts = np.zeros(len(cut.starts), dtype=np.int64)
        codes = cut.codes[cut.starts[cut.alone]]
        alone = self.count[codes]
        counts[cut.alone] = alone
        counts[cut.others] = [len(ids) for ids, _ in others]
        first = np.concatenate(([0], np.cumsum(counts)))
        ids = np.empty(first[-1], dtype=np.int64)
        at = first[:-1][cut.alone]
        for column in range(self.ids.shape[1]):
            has = alone > column
            ids[at[has] + column] = self.ids[codes[has], column]
        for index, (piece, _) in zip(cut.others, others, strict=True):
            ids[first[index] : first[index + 1]] = piece
        chars = cut.starts + shift
        chars[0] = 0
        return ids.tolist(), chars.tolist(), first.tolist()


def ideographs(backend: Any) -> Ideographs | None:
    """`backend`'s (a byte-level `tokenizers.Tokenizer`) ideograph table, or None when its
    model could join across a cut: merges that are not plain rank-ordered BPE, or an added
    token holding an ideograph."""
    from tokenizers.models import BPE

    model = backend.model
    if (
        not isinstance(model, BPE)
        or model.dropout
        or model.ignore_merges
        or model.continuing_subword_prefix
        or model.end_of_word_suffix
    ):
        return None
    if any(re.search(f"[{_CLASS}]", t.content) for t in backend.get_added_tokens_decoder().values()):
        return None
    return Ideographs(backend, _adjacent_bytes(backend.get_vocab(with_added_tokens=False)))


def _adjacent_bytes(vocab: dict[str, int]) -> set[tuple[int, int]]:
    """The pairs of bytes side by side in some token that could end one ideograph and
    start the next: a continuation byte, then the lead byte of a three-byte character."""
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    byte_of = {char: byte for byte, char in bytes_to_unicode().items()}
    leads = {char for char, byte in byte_of.items() if 0xE0 <= byte <= 0xEF}
    return {
        (byte_of[left], byte_of[right])
        for token in vocab
        if not leads.isdisjoint(token)
        for left, right in pairwise(token)
        if right in leads and left in byte_of
    }


class Cut(NamedTuple):
    """A text cut into stretches: lone ideographs (`alone`) and the `others`, by index."""

    codes: np.ndarray
    starts: np.ndarray
    ends: np.ndarray
    alone: np.ndarray
    others: list[int]

    def texts(self, text: str) -> list[str]:
        """The stretches that are not lone ideographs (the first always, whatever it holds)."""
        return [text[self.starts[i] : self.ends[i]] for i in self.others]
