"""The factory: the shipped rows with {{NAME}} and {{AUTHOR}} filled in per language."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError

DATA = Path(__file__).with_name("self_cognition.jsonl")
_LANGUAGES = ("zh", "en")


def _names(values: list[str], option: str) -> dict[str, str] | None:
    """`--model_name ZH EN`: one value serves both languages; None when missing."""
    values = [v for v in values or [] if v and v.strip()]
    if not values:
        return None
    if len(values) > 2:
        raise ArgumentError(f"{option} takes a Chinese and an English name, got {len(values)} values")
    return dict(zip(_LANGUAGES, values * 2 if len(values) == 1 else values, strict=False))


def load(subsets: tuple[str, ...], data_args: Any) -> list[dict]:
    """Rows of the chosen subsets (`zh`, `en`) with the model's name and author filled in."""
    names = _names(data_args.model_name, "--model_name")
    authors = _names(data_args.model_author, "--model_author")
    missing = [opt for opt, got in (("--model_name", names), ("--model_author", authors)) if got is None]
    if missing:
        raise ArgumentError(
            f"the self-cognition dataset needs {' and '.join(missing)}, e.g. "
            "--model_name 小风筝 Kite --model_author 某公司 Acme (Chinese name, then English)"
        )
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        lang = row["subset"]
        if lang in subsets:
            query, response = (_fill(row[k], names[lang], authors[lang]) for k in ("query", "response"))
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": query},
                        {"role": "assistant", "content": response},
                    ],
                    "tools": None,
                    "rejected_response": None,
                    "label": None,
                }
            )
    return rows


def _fill(text: str, name: str, author: str) -> str:
    return text.replace("{{NAME}}", name).replace("{{AUTHOR}}", author)
