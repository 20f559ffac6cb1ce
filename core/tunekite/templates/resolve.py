"""Which template a run uses, and building it: `--template`, else the model's, else detected."""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError, UnknownNameError

JINJA = "jinja"
"""Core's template that trains through the tokenizer's own chat template (the fallback)."""


def detect_template(chat_template: str | None, host: Any = None) -> str | None:
    """The registered template whose markers all appear in a Jinja chat template (most markers wins)."""
    from tunekite.plugins import get_host

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
    from tunekite.models.resolve import resolve_model_spec
    from tunekite.plugins import get_host

    host = host or get_host()
    if template:
        return template, "--template"
    spec = resolve_model_spec(model, model_type, host) if model or model_type else None
    if spec is not None and spec.template:
        picked = model_type or spec.name == model or spec.file_suffixes
        how = "" if picked else ", picked by the folder's config.json architectures"
        return spec.template, f"declared by model type {spec.name!r}{how}"
    chat_template = getattr(tokenizer, "chat_template", None)
    detected = detect_template(chat_template, host)
    if detected:
        return detected, "matches the tokenizer's chat template"
    if not chat_template:
        return "default", "the tokenizer has no chat template"
    return JINJA, (
        "no installed template matches the tokenizer's chat template: training through the "
        "chat template itself, labels found by rendering growing prefixes"
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
    from tunekite.plugins import get_host

    host = get_host()
    name, why = choose_template(tokenizer, template_args.template, model, model_type, host)
    try:
        spec = host.registry("templates").get(name)
    except UnknownNameError as exc:
        raise ArgumentError(f"--template: {exc}") from None
    template = spec.load()(tokenizer, template_args)
    if template_args.system is None:
        from tunekite.models.resolve import declared_system

        system = declared_system(model, model_type)
        template = template.with_options(system=system) if system is not None else template
    if template.backend == JINJA and not getattr(tokenizer, "chat_template", None):
        raise ArgumentError("--template_backend jinja: the tokenizer has no chat template to render with")
    if not quiet:
        from rich.console import Console

        path = (
            "plain text (--use_chat_template false)"
            if not template_args.use_chat_template
            else "the tokenizer's own chat template"
            if template.backend == JINJA
            else "the registered template"
        )
        console = Console(stderr=True, highlight=False)
        console.print(f"[bold]template[/]: {name} ({why}); encoding through {path}")
    return template
