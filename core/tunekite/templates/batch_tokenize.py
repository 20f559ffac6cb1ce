"""Token ids of many rendered conversations, and where each weighted chunk's tokens stop.

The encoder tokenizes a conversation's whole text and gives each token the weight of the
chunk its last character is in. For a byte-level BPE tokenizer (GPT-2's pre-tokenizer
regex, no normalizer) a space that follows and precedes a non-space always starts a new
pre-token, and pre-tokens are tokenized independently, so the text split before such
spaces tokenizes word by word into exactly the ids and offsets of the whole text. Words
repeat across a dataset, so each distinct word goes through the tokenizer once and
every row is assembled from cached words; rows with other spacing (double spaces,
a space beside a newline) are tokenized whole, as are all rows of other tokenizers.
Chinese has no spaces: a word holding runs of ideographs is cut between them where no
token can join the two (`tunekite.templates.ideographs`), each lone ideograph's ids come
from a table and the stretches between from the cache.
"""

from __future__ import annotations

import re
import threading
import weakref
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from itertools import chain, islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunekite.templates.ideographs import Cut

IdsAndStops = tuple[list[int], list[int]]
"""A row's ids, and per chunk end the number of tokens whose last character is before it."""

_BLANK_BESIDE_SPACE = re.compile(r" (?:(?=\s)|(?<=\s ))")
"""A space with a blank before or after it (starting with the space: found by a fast scan)."""
_KEEP_CHARS = 64
"""Longer words (a whole Chinese reply, a URL) are rarely seen twice: not kept between
batches; shorter ones include the words around a turn's special tokens, which repeat."""
_MAX_WORDS = 200_000
_caches: weakref.WeakKeyDictionary[Any, tuple[int, _WordCache | None]] = weakref.WeakKeyDictionary()


def ids_and_stops(tokenizer: Any, texts: Sequence[str], ends: Sequence[Sequence[int]]) -> list[IdsAndStops]:
    """Each text's ids, and the token index at each of its `ends` (character positions)."""
    cache = _word_cache(tokenizer)
    out: list[IdsAndStops | None] = [None] * len(texts)
    whole = list(range(len(texts)))
    if cache is not None:
        split = [text.split(" ") if _splittable(text) else None for text in texts]
        with cache.lock:  # another thread's batch must not forget this one's long words
            cache.add(split)
            for i, words in enumerate(split):
                if words is not None:
                    out[i] = cache.assemble(texts[i], words, ends[i])
            cache.forget_long()
        whole = [i for i, words in enumerate(split) if words is None]
    for i, encoding in zip(whole, _encodings(tokenizer, [texts[i] for i in whole]), strict=True):
        last = _LastCharacters(encoding)
        out[i] = (encoding.ids, [_tokens_before(last, end) for end in ends[i]])
    return out  # type: ignore[return-value]


def _splittable(text: str) -> bool:
    """Whether every space in `text` has a non-space on both sides (then a pre-token starts
    at each); a space beside another blank may join a pre-token with it."""
    return not (text.startswith(" ") or text.endswith(" ") or _BLANK_BESIDE_SPACE.search(text))


class _WordCache:
    """Ids and last characters of words seen before, as the first word of a text and after
    a space (then the space is the word's first character)."""

    def __init__(self, tokenizer: Any) -> None:
        self.lock = threading.Lock()
        self.tokenizer = tokenizer
        self.ids: dict[str, list[int]] = {}
        self.last: dict[str, Sequence[int] | _Stretches] = {}
        self.first_ids: dict[str, list[int]] = {}
        self.first_last: dict[str, Sequence[int] | _Stretches] = {}
        self.long: list[str] = []
        from tunekite.templates.ideographs import ideographs  # numpy: imported when encoding

        self.ideographs = ideographs(tokenizer.backend_tokenizer)

    def add(self, split: list[list[str] | None]) -> None:
        """Tokenize the words not cached yet, in one batched call."""
        if len(self.ids) > _MAX_WORDS:
            self.clear()
        texts = [words for words in split if words is not None]
        spaced = set(chain.from_iterable(words[1:] for words in texts)).difference(self.ids)
        first = {words[0] for words in texts}.difference(self.first_ids)
        cuts = self._cut(spaced, first)
        encoded = _encodings(self.tokenizer, [" " + w for w in spaced] + list(first))
        for words, ids_of, last_of, found in (
            (spaced, self.ids, self.last, encoded[: len(spaced)]),
            (first, self.first_ids, self.first_last, encoded[len(spaced) :]),
        ):
            for word, encoding in zip(words, found, strict=True):
                ids_of[word] = encoding.ids
                if len(word) > _KEEP_CHARS:
                    last_of[word] = _LastCharacters(encoding)
                else:
                    last_of[word] = [max(end - 1, start) for start, end in encoding.offsets]
        for word, is_spaced, cut in cuts:
            ids_of, last_of = (self.ids, self.last) if is_spaced else (self.first_ids, self.first_last)
            head, *rest = cut.texts(word)
            others = [(ids_of[head], last_of[head]), *((self.first_ids[t], self.first_last[t]) for t in rest)]
            ids_of[word], chars, first_tokens = self.ideographs.compose(cut, others, int(is_spaced))
            inner = dict(zip(cut.others, (last for _, last in others), strict=True))
            last_of[word] = _Stretches(chars, first_tokens, inner)
        self.long = [w for w in chain(spaced, first, (w for w, _, _ in cuts)) if len(w) > _KEEP_CHARS]

    def _cut(self, spaced: set[str], first: set[str]) -> list[tuple[str, bool, Cut]]:
        """Takes the words with runs of ideographs that can be cut out of `spaced` and
        `first`, and puts the stretches between the cuts that are not cached in instead."""
        if self.ideographs is None:
            return []
        cuts = []
        for is_spaced, words in ((True, spaced), (False, first)):
            for word in [w for w in words if not w.isascii()]:
                cut = self.ideographs.cut(word)
                if cut is not None:
                    words.discard(word)
                    cuts.append((word, is_spaced, cut))
        for word, is_spaced, cut in cuts:
            head, *rest = cut.texts(word)
            if head not in (self.ids if is_spaced else self.first_ids):
                (spaced if is_spaced else first).add(head)
            first.update(t for t in rest if t not in self.first_ids)
        return cuts

    def clear(self) -> None:
        for cache in (self.ids, self.last, self.first_ids, self.first_last):
            cache.clear()

    def forget_long(self) -> None:
        for word in self.long:
            for cache in (self.ids, self.last, self.first_ids, self.first_last):
                cache.pop(word, None)
        self.long = []

    def assemble(self, text: str, words: list[str], ends: Sequence[int]) -> IdsAndStops:
        """The row's ids from its words' and, for each of its increasing `ends`, the tokens
        before it: those of the words before the one holding character end - 1, counted
        on from the previous end, and that word's own tokens ending before `end`."""
        pieces = [self.first_ids[words[0]], *map(self.ids.__getitem__, islice(words, 1, None))]
        ids = list(chain.from_iterable(pieces))
        stops = []
        word, before, counted_to = 0, 0, 0
        for end in ends:
            if end == len(text):
                stops.append(len(ids))
                continue
            holding = word + text.count(" ", counted_to, end)  # the word holding character end - 1
            before += sum(map(len, islice(pieces, word, holding)))
            word, counted_to = holding, end
            if word == 0:
                last, start = self.first_last[words[0]], 0
            else:
                last, start = self.last[words[word]], text.rfind(" ", 0, end)
            stops.append(before + _tokens_before(last, end - start))
        return ids, stops


class _LastCharacters(Sequence[int]):
    """The character each token of an encoding ends on (its start for a token that covers
    none), read token by token: finding a few never converts all the offsets."""

    def __init__(self, encoding: Any) -> None:
        self.encoding = encoding

    def __len__(self) -> int:
        return len(self.encoding)

    def __getitem__(self, index: int) -> int:  # type: ignore[override]
        start, end = self.encoding.token_to_chars(index)
        return max(end - 1, start)


class _Stretches:
    """The last characters of a word cut between ideographs, by stretch: each stretch's
    first character and first token, and the last characters of those not a lone
    ideograph (whose tokens all end on it)."""

    def __init__(self, chars: list[int], first: list[int], inner: dict[int, Sequence[int]]) -> None:
        self.chars = chars
        self.first = first
        self.inner = inner

    def tokens_before(self, end: int) -> int:
        stretch = bisect_right(self.chars, end - 1) - 1
        last = self.inner.get(stretch)
        if last is None:
            return self.first[stretch + 1]
        return self.first[stretch] + _tokens_before(last, end - self.chars[stretch])


def _tokens_before(last: Sequence[int] | _Stretches, end: int) -> int:
    """How many tokens end on a character before `end` (`bisect_left`: a token's last
    character never comes before the previous token's); for an encoding, stepping from
    the token that holds character `end - 1` reads two or three offsets instead of a dozen."""
    if isinstance(last, _Stretches):
        return last.tokens_before(end)
    if not isinstance(last, _LastCharacters):
        return bisect_left(last, end)
    index = last.encoding.char_to_token(end - 1) if end > 0 else 0
    if index is None:
        return bisect_left(last, end)
    while index > 0 and last[index - 1] >= end:
        index -= 1
    count = len(last)
    while index < count and last[index] < end:
        index += 1
    return index


def _word_cache(tokenizer: Any) -> _WordCache | None:
    """The tokenizer's word cache, or None when splitting at spaces could change its tokens;
    both are decided again once the tokenizer has gained tokens."""
    size = len(tokenizer)
    known = _caches.get(tokenizer)
    if known is None or known[0] != size:
        known = _caches[tokenizer] = (size, _WordCache(tokenizer) if _splits_at_spaces(tokenizer) else None)
    return known[1]


def _splits_at_spaces(tokenizer: Any) -> bool:
    from tokenizers import pre_tokenizers

    backend = tokenizer.backend_tokenizer
    if backend.normalizer is not None or getattr(backend.model, "dropout", None):
        return False
    pre = backend.pre_tokenizer
    if not (isinstance(pre, pre_tokenizers.ByteLevel) and pre.use_regex and not pre.add_prefix_space):
        return False
    return all(
        " " not in t.content and not (t.lstrip or t.rstrip or t.single_word)
        for t in backend.get_added_tokens_decoder().values()
    )


def _encodings(tokenizer: Any, texts: list[str]) -> list[Any]:
    """The `tokenizers.Encoding`s `tokenizer(texts, add_special_tokens=False)` makes, straight
    from its Rust tokenizer when that call would only pass through to it (no truncation or
    padding set, special tokens kept whole): building a `BatchEncoding` costs a third as
    much as the tokenizing itself."""
    if not texts:
        return []
    backend = tokenizer.backend_tokenizer
    if (
        backend.truncation is None
        and backend.padding is None
        and backend.encode_special_tokens == bool(getattr(tokenizer, "split_special_tokens", False))
    ):
        return backend.encode_batch(texts, add_special_tokens=False)
    return tokenizer(texts, add_special_tokens=False).encodings
