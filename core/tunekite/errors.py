"""Errors meant for the person at the keyboard: the CLI prints them without a traceback."""

from __future__ import annotations


class TunekiteError(Exception):
    """Base of every error whose message is complete enough to act on."""

    exit_code = 1


class ArgumentError(TunekiteError):
    """A bad command-line option, YAML key or argument value."""

    exit_code = 2


class UnknownNameError(TunekiteError, LookupError):
    """A component name that no loaded plugin registered."""

    def __str__(self) -> str:  # LookupError would quote the message
        return str(self.args[0])


class DuplicateNameError(TunekiteError):
    """Two plugins registered the same name for one kind."""


class PluginError(TunekiteError):
    """A plugin failed to import or to register (fatal only where it must be)."""


def did_you_mean(name: str, choices: list[str], *, quote: str = "'", prefix: str = "") -> str:
    """' Did you mean 'x'?' for the closest choice, or '' when nothing is close."""
    import difflib

    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" Did you mean {quote}{prefix}{close[0]}{quote}?" if close else ""
