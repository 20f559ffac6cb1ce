"""tk_train_callbacks lists are concatenated across plugins; commands come from plugins."""

from __future__ import annotations

from types import SimpleNamespace

import click

from tunekite import hookimpl


def test_train_callbacks_from_all_plugins_are_concatenated(tk_plugins) -> None:
    seen = []

    class First:
        @hookimpl
        def tk_train_callbacks(self, run):
            seen.append(run)
            return ["a", "b"]

    class Second:
        @hookimpl
        def tk_train_callbacks(self, run):
            return None

    class Third:
        @hookimpl
        def tk_train_callbacks(self, run):
            return ["c"]

    for plugin in (First(), Second(), Third()):
        tk_plugins.add(plugin, name=type(plugin).__name__)
    run = SimpleNamespace(command="sft")
    assert sorted(tk_plugins.host.train_callbacks(run)) == ["a", "b", "c"]
    assert seen == [run]


def test_failing_command_registration_is_contained(tk_plugins) -> None:
    @click.group()
    def cli() -> None:
        pass

    class Good:
        @hookimpl
        def tk_register_commands(self, cli):
            cli.add_command(click.Command("good", callback=lambda: None))

    class Bad:
        @hookimpl
        def tk_register_commands(self, cli):
            cli.add_command(click.Command("half", callback=lambda: None))
            raise RuntimeError("broken command plugin")

    tk_plugins.add(Good(), name="good")
    tk_plugins.add(Bad(), name="bad", distribution="tunekite-bad")
    tk_plugins.host.call_commands(cli)
    assert set(cli.commands) == {"good"}
    bad = next(p for p in tk_plugins.host.plugins if p.name == "bad")
    assert bad.status == "failed" and "broken command plugin" in bad.error
