"""Which template a run uses, and building it: `--template`, else the model's, else detected."""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError, UnknownNameError


def detect_template(chat_template: str | None, host: Any = None) -> str | None:
    """The registered template whose markers all appear in a Jinja chat template (most markers wins)."""
    from tunekite.plugin_host import get_host

    if not chat_template:
        return None
    host = host or get_host()
    best: tuple[int, str] | None = None
    for entry in host.registry("templates"):
        markers = getattr(entry.spec, "chat_template_markers", ())
        if markers and all(m in chat_template for m in markers):
            candidate = (len(markers), entry.spec.name)
            best = max(best, candidate) if best else candidate
    return best[1] if best else None


def choose_template(
    tokenizer: Any,
    template: str | None = None,
    model: str | None = None,
    model_type: str | None = None,
    host: Any = None,
) -> tuple[str, str]:
    """The template name and why it was chosen (printed, so users know)."""
    from tunekite.models.resolve import declared_template
    from tunekite.plugin_host import get_host

    host = host or get_host()
    if template:
        return template, "--template"
    declared = declared_template(model, model_type, host) if model or model_type else None
    if declared:
        return declared, f"declared by model {model_type or model!r}"
    chat_template = getattr(tokenizer, "chat_template", None)
    detected = detect_template(chat_template, host)
    if detected:
        return detected, "matches the tokenizer's chat template"
    if not chat_template:
        return "default", "the tokenizer has no chat template"
    known = ", ".join(host.registry("templates").names())
    raise ArgumentError(
        "No installed template matches this tokenizer's chat template; pass --template NAME "
        f"(installed: {known}), or --template_backend jinja for inference."
    )


def build_template(
    tokenizer: Any,
    template_args: Any,
    model: str | None = None,
    model_type: str | None = None,
    *,
    quiet: bool = False,
) -> Any:
    """Resolve, report and build the run's template (core's `TemplateArguments`)."""
    from tunekite.plugin_host import get_host

    host = get_host()
    name, why = choose_template(tokenizer, template_args.template, model, model_type, host)
    try:
        spec = host.registry("templates").get(name)
    except UnknownNameError as exc:
        raise ArgumentError(f"--template: {exc}") from None
    if not quiet:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[bold]template[/]: {name} ({why})")
    return spec.load()(tokenizer, template_args)
