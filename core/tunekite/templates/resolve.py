"""Which template a run uses, and building it: `--template`, else the model's, else detected.

Every function takes the run's plugin host (`run.plugin_host`): templates, loss scales and
named models are looked up in its registries.
"""

from __future__ import annotations

from typing import Any

from tunekite.errors import ArgumentError, TunekiteError, UnknownNameError
from tunekite.models.resolve import declared_system, resolve_model_spec
from tunekite.plugin_host import PluginHost
from tunekite.templates.detect import detect_template
from tunekite.templates.encoder import Template
from tunekite.templates.loss_scale import LossScale

JINJA = "jinja"
"""Core's template that trains through the tokenizer's own chat template (the fallback)."""


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
    spec = resolve_model_spec(model, model_type, host=host) if model or model_type else None
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
    template = spec.build(tokenizer, template_args, loss_scale=loss_scale)
    if template_args.system is None:
        system = declared_system(model, model_type, host=host)
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
