"""A template's encoding of one row computed the slow, obvious way, to check the encoder's
batched path against: the tokenizer's own call on the whole text with offsets, and each
token weighted by the chunk its last character falls in, looked up character by character."""

from __future__ import annotations

from typing import Any

from tunekite.constants import IGNORE_INDEX

SPACING_VARIANTS = (
    "two  spaces, three   spaces and a tab\there",
    "indented\n    code:\n\tx = 1",
    " leading and trailing ",
    "line end \n and start\n of lines",
    "中文 和 spaces 混合\u3000全角\u00a0nbsp",
    "a-very-long-hyphenated-word-that-is-longer-than-the-cache-keeps-for-later x",
    "",
)
"""Reply texts whose spacing the word-by-word tokenizer must split carefully or not at all."""


def reference_encoding(template: Any, row: Any) -> dict[str, Any] | None:
    """What `template.encode(row)` must give, truncation included."""
    chunks = [w for p in template.pieces(row["messages"], row.get("tools")) for w in template.loss_scale(p)]
    weight_of_char = [weight for text, weight in chunks for _ in text]
    encoded = template.tokenizer(
        "".join(text for text, _ in chunks), add_special_tokens=False, return_offsets_mapping=True
    )
    ids = list(encoded["input_ids"])
    weights = [weight_of_char[max(end - 1, start)] for start, end in encoded["offset_mapping"]]
    labels = [t if w > 0 else IGNORE_INDEX for t, w in zip(ids, weights, strict=True)]
    limit = template.max_length
    if limit is not None and len(ids) > limit:
        if template.truncation_strategy == "delete":
            return None
        keep = slice(-limit, None) if template.truncation_strategy == "left" else slice(limit)
        ids, weights, labels = ids[keep], weights[keep], labels[keep]
    return {"input_ids": ids, "labels": labels, "loss_scale": weights, "length": len(ids)}


def spacing_rows(conversations: dict[str, list[dict[str, str]]]) -> list[dict[str, Any]]:
    """Each conversation as is, and with every reply and user turn in each spacing variant."""
    rows = [{"messages": conversation} for conversation in conversations.values()]
    for variant in SPACING_VARIANTS:
        for conversation in conversations.values():
            spaced = {"user", "assistant"}
            messages = [
                {**m, "content": f"{variant} {m['content']} {variant}"} if m["role"] in spaced else m
                for m in conversation
            ]
            rows.append({"messages": messages})
    return rows
