"""`tk data preview` and `tk check template`: see data the way the model will.

Both take the same model, data and template options as `tk run sft` (parsed by the
same argument model), and import torch and transformers only once they run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import click

from tunekite.arguments.fields import arg
from tunekite.registrations import TaskSpec

_PASSTHROUGH = {"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []}


@dataclass(kw_only=True)
class PreviewArguments:
    """How much `tk data preview` shows."""

    preview_samples: int = arg(3, help="number of encoded samples to print")


PREVIEW = TaskSpec(
    name="data-preview",
    summary="Encoded samples with the trained tokens highlighted",
    groups=("model", "data", "template"),
    args=PreviewArguments,
    factory="tunekite.data.preview:preview",
)
CHECK = TaskSpec(
    name="check-template",
    summary="Compare a template with the tokenizer's own chat template",
    groups=("model", "template"),
    factory="tunekite.templates.check:check",
)


def _start(spec: TaskSpec, title: str, argv: tuple[str, ...]) -> None:
    from tunekite.cli.run_cmd import print_help
    from tunekite.launcher import resolve_spec
    from tunekite.plugin_host import get_host

    host = get_host()
    run, wants_help = resolve_spec(lambda _host: spec, argv, host)
    if wants_help:
        print_help(run, host, title)
        return
    code = spec.load()(run)
    if code:
        raise SystemExit(code)


@click.group(name="data")
def data() -> None:
    """Look at datasets through a template before training on them."""


@data.command(name="preview", context_settings=_PASSTHROUGH, add_help_option=False)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def preview(argv: tuple[str, ...]) -> None:
    """Print encoded samples: tk data preview --model M --dataset D [--template T] [--preview_samples N]."""
    _start(PREVIEW, "tk data preview", argv)


@click.group(name="check")
def check() -> None:
    """Check components against their references."""


@check.command(name="template", context_settings=_PASSTHROUGH, add_help_option=False)
@click.argument("name", required=False)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def check_template(name: str | None, argv: tuple[str, ...]) -> None:
    """Compare template NAME with the tokenizer's chat template: tk check template NAME --model M."""
    args: tuple[str, ...] = argv
    if name and not name.startswith("-"):
        args = ("--template", name, *argv)
    elif name:
        args = (name, *argv)
    _start(CHECK, "tk check template", args)


def commands() -> list[Any]:
    return [data, check]
