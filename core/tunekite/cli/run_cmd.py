"""`tk run NAME [ARGS]`: start a trainer or a task, or show its arguments with --help."""

from __future__ import annotations

from typing import Any

import click


@click.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.argument("name", required=False)
@click.argument("argv", nargs=-1, type=click.UNPROCESSED)
def run(name: str | None, argv: tuple[str, ...]) -> None:
    """Run a trainer or task: tk run sft --model PATH --dataset a.jsonl ...

    `tk run NAME --help` lists NAME's arguments, including those of the components
    the other options select (e.g. `--tuner lora`).
    """
    from tunekite.distributed import run_under_torchrun
    from tunekite.launcher import RUNNABLE_KINDS, launch, resolve
    from tunekite.plugin_host import get_host
    from tunekite.run_folder import wants_run_folder

    host = get_host()
    if name is None or name.startswith("-"):
        _print_runnables(host, RUNNABLE_KINDS)
        return
    run_, wants_help = resolve(name, argv, host)
    for warning in host.warnings():
        click.echo(f"Warning: {warning}", err=True)
    if wants_help:
        print_help(run_, host)
        return
    if wants_run_folder(run_):  # NPROC_PER_NODE / NNODES: the same command under torchrun
        training = run_.groups.get("training")
        run_under_torchrun(["run", name, *argv], getattr(training, "ddp_backend", None))
    launch(run_)


def _print_runnables(host: Any, kinds: tuple[str, ...]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="tk run NAME [--help] [ARGS]")
    for column in ("name", "kind", "summary", "provided by"):
        table.add_column(column)
    for kind in kinds:
        for entry in host.registry(kind):
            owner = entry.distribution or entry.plugin
            table.add_row(entry.spec.name, kind[:-1], escape(entry.spec.summary), owner)
    Console().print(table)


def _default_text(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, list):
        return " ".join(map(str, value)) or "[]"
    return str(value).lower() if isinstance(value, bool) else str(value)


def print_help(run: Any, host: Any, title: str | None = None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.padding import Padding

    from tunekite.arguments.fields import fields_of
    from tunekite.arguments.parser import option_strings

    console = Console(highlight=False)
    console.print(f"[bold]{escape(title or f'tk run {run.command}')}[/] — {escape(run.spec.summary)}")
    console.print(
        "Options take ms-swift spellings (--lora_rank) or dashed ones (--lora-rank); "
        "-c FILE.yaml loads a config that the command line overrides; "
        "--load_args DIR reads an earlier args.json."
    )
    for key, values in run.groups.items():
        kind, _, name = key.partition(":")
        title = f"{kind[:-1].replace('_', ' ')} {name}" if name else key
        console.print(f"\n[bold underline]{escape(title)} arguments[/]")
        for f in fields_of(type(values)):
            options = ", ".join(option_strings(n)[0] for n in f.names)
            default = escape(_default_text(f.default))
            console.print(f"  [cyan]{options}[/] [dim]{escape(f.type.label)} = {default}[/]")
            help_text = escape(f.help)
            if f.selects:
                help_text += f" (installed: {', '.join(host.registry(f.selects).names())})"
            console.print(Padding(help_text, (0, 0, 0, 6)))
