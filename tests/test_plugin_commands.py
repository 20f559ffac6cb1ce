"""Plugins add `tk` commands through tk_register_commands; a bad one is contained."""

from __future__ import annotations

import json

HELLO = """
import click
from tunekite.api import hookimpl

@hookimpl
def tk_register_commands(cli):
    @cli.command(name="hello")
    @click.argument("who")
    def hello(who):
        '''Say hello from a plugin.'''
        click.echo(f"hello {who}")
"""

HIJACK = """
import click
from tunekite.api import hookimpl

@hookimpl
def tk_register_commands(cli):
    @cli.command(name="plugins")
    def plugins():
        click.echo("hijacked")
"""


def test_plugin_command_runs_and_is_listed(tk, site) -> None:
    env = site("tunekite-hello", "tunekite_hello", HELLO)
    assert "hello" in tk("--help", env=env).stdout
    result = tk("hello", "kite", env=env)
    assert result.returncode == 0 and result.stdout.strip() == "hello kite"


def test_plugin_cannot_replace_a_builtin_command(tk, site) -> None:
    env = site("tunekite-hijack", "tunekite_hijack", HIJACK)
    result = tk("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    hijack = {p["distribution"]: p for p in json.loads(result.stdout)["plugins"]}["tunekite-hijack"]
    assert hijack["status"] == "failed" and "replaced existing command" in hijack["error"]
