"""Multiple choice: the question shown with lettered options, and the letter a reply picks."""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from typing import Any

LETTERS = string.ascii_uppercase
INSTRUCTION = "Answer with the letter of the correct option."


def question_text(question: str, choices: Sequence[Any]) -> str:
    """`question`, then `A. first`, `B. second`, ..., then the instruction."""
    options = "\n".join(f"{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))
    return f"{question}\n{options}\n{INSTRUCTION}"


def answer_letter(answer: Any, count: int) -> str | None:
    """The reference as a letter: `"B"`, `"b"`, `"(B)"` or the option's index `1`."""
    if isinstance(answer, int) and 0 <= answer < count:
        return LETTERS[answer]
    text = str(answer).strip().strip("().").upper()
    if len(text) == 1 and text in LETTERS[:count]:
        return text
    if text.isdigit() and int(text) < count:
        return LETTERS[int(text)]
    return None


def extract_letter(reply: str, count: int) -> str | None:
    """The option a reply picks: an explicit "answer is X" / "Answer: X" first, then a
    reply that opens with the letter ("B", "(B)", "B."), then the first standalone letter
    among the options; None when it names none."""
    valid = LETTERS[:count]
    letter = f"([{valid}])"
    patterns = (
        rf"(?i:answer\s*(?:is|:)?\s*(?:option\s*)?)\(?{letter}\b",
        rf"^\s*\(?{letter}(?:[).:\s]|$)",
        rf"\b{letter}\b",
    )
    for pattern in patterns:
        found = re.search(pattern, reply)
        if found:
            return found.group(1)
    return None


def choices_of(row: Mapping[str, Any]) -> list[Any]:
    choices = row.get("choices")
    if not isinstance(choices, (list, tuple)) or not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"`choices` must be a list of 2 to {len(LETTERS)} options, got {choices!r}")
    return list(choices)
