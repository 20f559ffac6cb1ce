"""Core's `jinja` template: a tokenizer's own chat template, trained through."""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError
from tunekite.templates.encoder import Template
from tunekite.templates.jinja import jinja_format
from tunekite.templates.loss_scale import LossScale


def jinja_template(
    fmt: None, tokenizer: Any, args: Any = None, *, loss_scale: LossScale | None = None, **options: Any
) -> Any:
    """The `jinja` template's factory: the tokenizer's own chat template, trained through
    prefix renders (plain text under `--use_chat_template false`, as any template). It
    registers no `ChatFormat` (`fmt` is None): its format is read from the tokenizer."""
    if not getattr(tokenizer, "chat_template", None):
        raise ArgumentError("template 'jinja': the tokenizer has no chat template to render with")
    template = Template.create(jinja_format(tokenizer), tokenizer, args, loss_scale=loss_scale, **options)
    if args is not None and not args.use_chat_template:
        return template
    return template.with_options(backend="jinja")
