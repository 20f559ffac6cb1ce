"""`tk plugins` and `tk list KIND`: what is installed and what it registered."""

from __future__ import annotations

import json

import click

from tunekite.cli import CUSTOM_PATH_OPTION
from tunekite.plugin_host import PluginHost, get_host
from tunekite.registrations import KINDS


def _host(custom_paths: tuple[str, ...]) -> PluginHost:
    host = get_host()
    for path in custom_paths:
        host.add_file(path)
    return host


def _registered_text(registered: dict[str, list[str]]) -> str:
    return "\n".join(f"{kind}: {', '.join(names)}" for kind, names in registered.items())


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@CUSTOM_PATH_OPTION
def plugins(as_json: bool, custom_register_path: tuple[str, ...]) -> None:
    """Installed plugins: distribution, version, what each registered, load errors."""
    host = _host(custom_register_path)
    host.warn_failures = False  # the table shows them
    conflicts = [c for kind in KINDS for c in host.registry(kind).conflicts]
    warnings = host.warnings()
    if as_json:
        plugins = [p.as_dict() for p in host.plugins]
        payload = {"plugins": plugins, "conflicts": conflicts, "warnings": warnings}
        click.echo(json.dumps(payload, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="TuneKite plugins", show_lines=True)
    for column in ("plugin", "distribution", "version"):
        table.add_column(column, no_wrap=True)
    for column in ("registered", "status"):
        table.add_column(column, overflow="fold")
    for p in host.plugins:
        status = "[green]ok[/]" if p.status == "loaded" else f"[red]{p.status}[/]: {escape(str(p.error))}"
        if p.status == "disabled":
            status = f"[yellow]disabled[/]: {escape(str(p.error))}"
        elif p.missing:
            status = f"[yellow]not usable[/]: {escape(p.missing)}"
        table.add_row(
            p.name if p.source != "file" else f"{p.name}\n({p.location})",
            p.distribution or f"({p.source})",
            p.version or "",
            escape(_registered_text(p.registered)),
            status,
        )
    console = Console()
    console.print(table)
    for conflict in conflicts:
        console.print(f"[red]conflict[/]: {escape(conflict)}")
    for warning in warnings:
        console.print(f"[yellow]warning[/]: {escape(warning)}")


@click.command(name="list")
@click.argument("kind", metavar="[KIND]", required=False)
@CUSTOM_PATH_OPTION
def list_components(kind: str | None, custom_register_path: tuple[str, ...]) -> None:
    """Registered components of one KIND (tuners, templates, trainers, ...); without
    KIND, how many of each kind are registered."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    host = _host(custom_register_path)
    if kind is None:
        table = Table(title="kinds: tk list KIND")
        table.add_column("kind")
        table.add_column("registered", justify="right")
        for name in KINDS:
            table.add_row(name, str(len(host.registry(name))))
        Console().print(table)
        return
    kind = kind if kind in KINDS else f"{kind}s" if f"{kind}s" in KINDS else kind
    registry = host.registry(kind)

    table = Table(title=f"{kind.replace('_', ' ')} ({len(registry)})")
    for column in ("name", "summary", "provided by"):
        table.add_column(column, overflow="fold")
    for entry in registry:
        aliases = f" ({', '.join(entry.spec.aliases)})" if entry.spec.aliases else ""
        owner = entry.distribution or entry.plugin
        table.add_row(escape(entry.spec.name + aliases), escape(entry.spec.summary), owner)
    Console().print(table)
