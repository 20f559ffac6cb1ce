"""Which template a run uses, and building it: `--template`, else the model's, else detected.

Every function takes the run's plugin host (`run.host`): templates, loss scales and
named models are looked up in its registries.
"""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError, TunekiteError, UnknownNameError
from tunekite.models.resolve import declared_template
from tunekite.plugin_host import PluginHost
from tunekite.templates.encoder import Template
from tunekite.templates.loss_scale import LossScale


def detect_template(chat_template: str | None, host: PluginHost) -> str | None:
    """The registered template whose markers all appear in a Jinja chat template (most markers wins)."""
    if not chat_template:
        return None
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
    *,
    host: PluginHost,
) -> tuple[str, str]:
    """The template name and why it was chosen (printed, so users know)."""
    if template:
        return template, "--template"
    declared = declared_template(model, model_type, host=host) if model or model_type else None
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


def resolve_loss_scale(name: str, host: PluginHost) -> LossScale:
    """The `LossScale` that `--loss_scale NAME` names among the registered ones."""
    try:
        spec = host.registry("loss_scales").get(name)
    except TunekiteError as exc:
        raise ArgumentError(f"--loss_scale: {exc}") from None
    return spec.load()(None)


def build_template(
    tokenizer: Any,
    template_args: Any,
    model: str | None = None,
    model_type: str | None = None,
    *,
    host: PluginHost,
    quiet: bool = False,
) -> Template:
    """Resolve, report and build the run's template (core's `TemplateArguments`), with the
    loss scale `--loss_scale` names."""
    name, why = choose_template(tokenizer, template_args.template, model, model_type, host=host)
    try:
        spec = host.registry("templates").get(name)
    except UnknownNameError as exc:
        raise ArgumentError(f"--template: {exc}") from None
    loss_scale = resolve_loss_scale(template_args.loss_scale, host)
    if not quiet:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(f"[bold]template[/]: {name} ({why})")
    return spec.build(tokenizer, template_args, loss_scale=loss_scale)
