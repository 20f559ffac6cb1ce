"""Compare a template's encoding with the tokenizer's own `apply_chat_template`.

Used by `tk check template` and by the template conformance suite: both report the
first token where the two disagree, with the text around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunekite.templates.samples import CONVERSATIONS


@dataclass(frozen=True)
class Difference:
    """Where a rendering first departs from the tokenizer's chat template."""

    conversation: str
    part: str  # "conversation" or "generation prompt (first N messages)"
    index: int
    ours: str
    theirs: str

    def __str__(self) -> str:
        return (
            f"{self.conversation}, {self.part}: first difference at token {self.index}\n"
            f"  template: {self.ours!r}\n  jinja:    {self.theirs!r}"
        )


def compare(
    template: Any, tokenizer: Any, conversations: Mapping[str, Sequence[Mapping[str, str]]] = CONVERSATIONS
) -> list[Difference]:
    """Every conversation whose ids, or whose generation prompts, differ from the Jinja ones."""
    found = []
    for title, conversation in conversations.items():
        jinja = tokenizer.apply_chat_template(list(conversation), tokenize=False)
        ours = _encoded(template, conversation)
        if ours is not None:
            diff = _difference(tokenizer, title, "conversation", ours["input_ids"], jinja)
            found += [diff] if diff else []
        for end, message in enumerate(conversation):
            if message["role"] != "user":
                continue
            prompt = list(conversation[: end + 1])
            jinja = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            part = f"generation prompt (first {end + 1} messages)"
            diff = _difference(tokenizer, title, part, template.prompt_ids(prompt), jinja)
            found += [diff] if diff else []
    return found


def _encoded(template: Any, conversation: Sequence[Mapping[str, str]]) -> dict[str, Any] | None:
    """The encoding, or None where the jinja backend refuses it (`trained_text` says why)."""
    from tunekite.templates.encoder import TemplateError

    try:
        return template.encode({"messages": conversation})
    except TemplateError:
        if template.backend != "jinja":
            raise
        return None


def _difference(tokenizer: Any, title: str, part: str, ours: list[int], jinja: str) -> Difference | None:
    theirs = tokenizer(jinja, add_special_tokens=False)["input_ids"]
    if ours == theirs:
        return None
    index = next(
        (i for i, (a, b) in enumerate(zip(ours, theirs, strict=False)) if a != b), min(len(ours), len(theirs))
    )
    start = max(index - 3, 0)
    return Difference(
        title,
        part,
        index,
        tokenizer.decode(ours[start : index + 5]),
        tokenizer.decode(theirs[start : index + 5]),
    )


def trained_text(template: Any, tokenizer: Any, conversation: Sequence[Mapping[str, str]]) -> str:
    """The labelled tokens of a conversation, decoded (what the template trains), or why none."""
    from tunekite.templates.encoder import TemplateError

    try:
        encoded = template.encode({"messages": conversation})
    except TemplateError as exc:
        return f"refused: {exc}"
    if encoded is None:
        return "dropped: longer than --max_length"
    return tokenizer.decode(
        [t for t, label in zip(encoded["input_ids"], encoded["labels"], strict=True) if label != -100],
        skip_special_tokens=False,
    )


def check(run: Any) -> int:
    """`tk check template NAME --model M`: a table of conversations, 0 when all match."""
    from rich.console import Console

    from tunekite.errors import ArgumentError
    from tunekite.models.loader import load_tokenizer
    from tunekite.templates.resolve import build_template

    console = Console(highlight=False)
    model = run.groups["model"]
    tokenizer = load_tokenizer(run)
    if not getattr(tokenizer, "chat_template", None):
        raise ArgumentError(f"--model {model.model}: the tokenizer has no chat template to compare with")
    template = build_template(
        tokenizer, run.groups["template"], model.model, model.model_type, host=run.plugin_host
    )
    differences = compare(template, tokenizer)
    for title, conversation in CONVERSATIONS.items():
        mine = [d for d in differences if d.conversation == title]
        console.print(f"[green]✓[/] {title}" if not mine else f"[red]✗[/] {title}")
        for d in mine:
            console.print(f"    {d}".replace("\n", "\n    "), markup=False)
        console.print(f"    trained: {trained_text(template, tokenizer, conversation)!r}", markup=False)
    verdict = "matches" if not differences else "differs from"
    console.print(f"template {template.name!r} {verdict} the tokenizer's chat template")
    return 1 if differences else 0
