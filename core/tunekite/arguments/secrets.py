"""Secret arguments (tokens, API keys): used by the run, never written to disk.

A field declared `arg(..., secret=True)` is saved in `args.json` as `SECRET_GIVEN` when
it had a value, and the command line kept in a manifest has the value after its option
replaced the same way. `--load_args` of such a file takes the secret again from the
command line or from the environment variable `TUNEKITE_<NAME>`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tunekite.arguments.fields import ArgField, fields_of

SECRET_GIVEN = "<secret: given>"


def env_name(f: ArgField) -> str:
    """The environment variable a secret is read from when a saved args.json left it out."""
    return f"TUNEKITE_{f.name.upper()}"


def secret_fields(groups: Iterable[Any]) -> list[ArgField]:
    """The secret fields of argument groups (dataclass classes or instances)."""
    return [f for g in groups for f in fields_of(g if isinstance(g, type) else type(g)) if f.secret]


def redact_values(values: Mapping[str, Any], secrets: Iterable[ArgField]) -> dict[str, Any]:
    """`values` with every given secret replaced by `SECRET_GIVEN` (None stays None)."""
    out = dict(values)
    for f in secrets:
        if out.get(f.name) is not None:
            out[f.name] = SECRET_GIVEN
    return out


def redact_argv(argv: Sequence[str], secrets: Iterable[ArgField]) -> list[str]:
    """A command line with the value of every secret option hidden, in both the
    `--hub_token VALUE` and the `--hub_token=VALUE` forms, under any of its spellings."""
    options = {f"--{spelling}" for f in secrets for n in f.names for spelling in {n, n.replace("_", "-")}}
    out: list[str] = []
    hide_next = False
    for token in argv:
        if hide_next:
            out.append(SECRET_GIVEN)
            hide_next = False
            continue
        option, sep, _ = token.partition("=")
        if option in options:
            out.append(f"{option}={SECRET_GIVEN}" if sep else token)
            hide_next = not sep
        else:
            out.append(token)
    return out


def restore(f: ArgField, value: Any, env: Mapping[str, str] | None = None) -> Any:
    """A saved value as the run should use it: a secret saved as `SECRET_GIVEN` comes
    from `TUNEKITE_<NAME>` (None when unset); anything else is returned unchanged."""
    if not (f.secret and value == SECRET_GIVEN):
        return value
    return (os.environ if env is None else env).get(env_name(f)) or None


def missing_notice(f: ArgField, source: str) -> str:
    """One line telling the user a reloaded run's secret must be given again."""
    return (
        f"note: {source} records that --{f.name} was given, but secrets are not saved; "
        f"pass --{f.name} or set {env_name(f)} if this run needs it"
    )
