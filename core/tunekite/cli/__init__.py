"""The `tk` command.

Kept light on purpose: `tk --help`, `tk plugins` and `tk list` import click, pluggy
and the plugins' registration modules, never torch or transformers.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import click

from tunekite import __version__
from tunekite.errors import TunekiteError

CUSTOM_PATH_OPTION = click.option(
    "--custom_register_path",
    "--custom-register-path",
    "--external_plugins",
    "custom_register_path",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="A local .py file to register as a plugin (repeat for several).",
)


class _UserError(click.ClickException):
    def __init__(self, error: TunekiteError) -> None:
        super().__init__(str(error))
        self.exit_code = error.exit_code


class _Group(click.Group):
    """Turns TuneKite's user-facing errors, and a missing library that an extra or a plugin
    provides, into clean one-line messages without tracebacks."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TunekiteError as exc:
            raise _UserError(exc) from None
        except ModuleNotFoundError as exc:
            from tunekite.plugin_host import get_host

            hint = get_host().install_hint(exc.name or "")
            if hint is None:
                raise
            message = f"{(exc.name or '').partition('.')[0]} is not installed; this command needs it: {hint}"
            raise click.ClickException(message) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="tk", message="%(prog)s %(version)s")
def cli() -> None:
    """TuneKite: fine-tune, align, serve and export LLMs with pluggable components.

    \b
    Examples:
      tk run sft --model PATH --tuner lora --dataset data.jsonl
      tk run sft --tuner lora --help     arguments of sft with the LoRA tuner
      tk plugins                         installed plugins and what they register
      tk list tuners                     registered tuners
    """


def _register_builtin_commands() -> None:
    from tunekite.cli import data_cmds, inspect_cmds, run_cmd

    cli.add_command(run_cmd.run)
    for command in data_cmds.commands():
        cli.add_command(command)
    cli.add_command(inspect_cmds.plugins)
    cli.add_command(inspect_cmds.list_components)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: load plugins (so their commands exist), then dispatch. `tk run`
    first executes itself again with tcmalloc preloaded when it can (`tunekite.allocator`)."""
    from tunekite.allocator import reexecute_with_allocator
    from tunekite.plugin_host import get_host

    try:
        if argv is None and sys.argv[1:2] == ["run"]:
            reexecute_with_allocator()
        _register_builtin_commands()
        get_host().call_commands(cli)
    except TunekiteError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(exc.exit_code)
    cli.main(args=list(argv) if argv is not None else None, prog_name="tk")
