"""Per-token loss weights, decided piece by piece of a rendered conversation.

The template encoder renders a conversation as `Piece`s (the system prompt, a user
turn, an assistant reply, its end-of-turn token, ...). A loss scale maps each piece
to weighted sub-strings; the encoder turns those character weights into one weight
per token, and a weight of 0 becomes the label -100. The agent strategies weight
keywords (`Action:`, `Action Input:`) above free text, as ms-swift's configs do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

TRAINED_KINDS = frozenset({"assistant", "tool_call", "end"})
"""Pieces the model should learn to produce: replies, tool calls and end-of-turn tokens."""


class Piece(NamedTuple):
    """One stretch of rendered text and what it is."""

    kind: str  # bos, system, user, header, assistant, tool_call, tool_response, end, sep
    text: str
    round: int
    last_round: bool


Weighted = list[tuple[str, float]]


class LossScale:
    """`default`: every assistant reply and its end-of-turn token weigh 1, the rest 0."""

    binary = True

    def trains(self, piece: Piece) -> bool:
        return piece.kind in TRAINED_KINDS

    def __call__(self, piece: Piece) -> Weighted:
        return [(piece.text, 1.0 if self.trains(piece) else 0.0)]


class LastRound(LossScale):
    """`last_round`: only the final reply is trained (RLHF's default)."""

    def trains(self, piece: Piece) -> bool:
        return piece.last_round and piece.kind in TRAINED_KINDS


class AllTokens(LossScale):
    """`all`: every token is trained, prompts included (pre-training style)."""

    def trains(self, piece: Piece) -> bool:
        return True


@dataclass(frozen=True)
class KeywordLossScale(LossScale):
    """Agent strategies: inside a reply, each keyword and the text after it get their
    own weights (`{"Action:": (2.0, 2.0)}`); `query` keywords weight parts of the prompt."""

    response: Mapping[str, tuple[float, float]]
    query: Mapping[str, float] = field(default_factory=dict)
    binary = False

    def __call__(self, piece: Piece) -> Weighted:
        if piece.kind in ("assistant", "tool_call"):
            return _split_keywords(piece.text, self.response)
        if piece.kind == "user" and self.query:
            return _mark_keywords(piece.text, self.query)
        return super().__call__(piece)


def _split_keywords(text: str, keywords: Mapping[str, tuple[float, float]]) -> Weighted:
    """Text before the first keyword weighs 1; a keyword then its content until the next one."""
    hits = sorted((pos, kw) for kw in keywords for pos in _find_all(text, kw))
    out: Weighted = []
    cursor, content_weight = 0, 1.0
    for pos, kw in hits:
        if pos < cursor:  # overlapping keyword ("Action:" inside "Action Input:")
            continue
        out.append((text[cursor:pos], content_weight))
        kw_weight, content_weight = keywords[kw]
        out.append((kw, kw_weight))
        cursor = pos + len(kw)
    out.append((text[cursor:], content_weight))
    return [(s, w) for s, w in out if s]


def _mark_keywords(text: str, keywords: Mapping[str, float]) -> Weighted:
    spans = sorted((pos, kw) for kw in keywords for pos in _find_all(text, kw))
    out: Weighted = []
    cursor = 0
    for pos, kw in spans:
        if pos < cursor:
            continue
        out += [(text[cursor:pos], 0.0), (kw, keywords[kw])]
        cursor = pos + len(kw)
    out.append((text[cursor:], 0.0))
    return [(s, w) for s, w in out if s]


def _find_all(text: str, needle: str) -> list[int]:
    found, start = [], text.find(needle)
    while start != -1:
        found.append(start)
        start = text.find(needle, start + len(needle))
    return found


# Longer keywords are listed first so that "Action Input:" wins over "Action:".
REACT = KeywordLossScale(
    {
        "Action Input:": (2.0, 2.0),
        "Action:": (2.0, 2.0),
        "Thought:": (1.0, 1.0),
        "Final Answer:": (1.0, 1.0),
        "Observation:": (2.0, 0.0),
    }
)
ALPHA_UMI = KeywordLossScale(
    {
        "Action Input:": (2.0, 2.0),
        "Action:": (2.0, 2.0),
        "Thought:": (1.0, 1.0),
        "Final Answer:": (1.0, 1.0),
        "Next:": (2.0, 2.0),
        "Observation:": (2.0, 0.0),
    }
)
AGENTFLAN = KeywordLossScale(
    {
        "Action Input:": (1.0, 3.0),
        "ACTION_INPUT:": (1.0, 3.0),
        "action input": (1.0, 3.0),
        "Action:": (1.0, 3.0),
        "ACTION:": (1.0, 3.0),
        "Name:": (1.0, 3.0),
        "Tool:": (1.0, 3.0),
        "Command": (1.0, 3.0),
        "Arguments:": (1.0, 3.0),
        "Observation:": (2.0, 0.0),
    },
    query={
        "What is the tool you want to use": 3.0,
        "What are the required parameter names": 3.0,
        "What is the value of": 3.0,
    },
)
QWEN = KeywordLossScale(
    {
        "✿FUNCTION✿:": (2.0, 2.0),
        "✿ARGS✿:": (2.0, 2.0),
        "✿RETURN✿:": (1.0, 1.0),
        "✿RESULT✿:": (2.0, 0.0),
        "<tool_call>": (2.0, 2.0),
    }
)
