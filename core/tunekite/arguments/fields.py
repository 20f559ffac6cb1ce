"""One declaration per argument: a dataclass field made with `arg()`.

The CLI options, YAML keys, `args.json` and `--help` are all generated from these
declarations, so a field's type annotation is the single source of how a value is
parsed. Supported annotations: str, int, float, bool, dict, Literal[...], X | None,
and list[X] of those scalars.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from tunekite.errors import ArgumentError

_MISSING = dataclasses.MISSING
_TRUE = {"true", "1", "yes", "y", "on"}
_FALSE = {"false", "0", "no", "n", "off"}


def arg(
    default: Any = _MISSING,
    *,
    help: str,
    default_factory: Callable[[], Any] | Any = _MISSING,
    aliases: tuple[str, ...] = (),
    selects: str | None = None,
    enables: str | None = None,
    metavar: str | None = None,
    read_by: str | None = None,
    unsupported: str | None = None,
    secret: bool = False,
    selects_path: str | None = None,
    selects_nothing: tuple[str, ...] = (),
) -> Any:
    """Declare one argument of a group dataclass.

    `aliases` are extra names accepted on the command line and in YAML (for example
    `train_type` for `tuner`). `selects` names the component kind whose registered
    name this argument holds (for example "tuners"), so the selected component's own
    argument group joins the run. `enables` ("kind:name") selects that one component
    when the argument is true or set (`--to_gguf true` selects the exporter gguf,
    `--deepspeed zero2` the parallelism deepspeed),
    after the components selected by the arguments declared before it. `read_by` names
    the component kind whose selected component reads this core argument (`quant_bits`
    is read by the quantizer), and `unsupported` says why a value other than the
    default is refused (see `tunekite.arguments`).
    On a selector, `selects_path` names the component that a value naming an existing file
    or folder selects instead (`--prm_model CKPT` selects the reward `reward_model`, which
    reads the path), and `selects_nothing` lists values that select no component
    (`--sampler_engine no`).
    A `secret` value (a token, an API key) is never written to disk: args.json and
    manifests record only that one was given.
    """
    if not help.strip() or "\n" in help.strip():
        raise ValueError("arg(help=...) must be one non-empty line")
    if unsupported is not None and (not unsupported.strip() or "\n" in unsupported.strip()):
        raise ValueError("arg(unsupported=...) must be one non-empty line")
    metadata = {
        "help": help,
        "aliases": tuple(aliases),
        "selects": selects,
        "enables": enables,
        "metavar": metavar,
        "read_by": read_by,
        "unsupported": unsupported,
        "selects_path": selects_path,
        "selects_nothing": tuple(selects_nothing),
    }
    if secret:
        metadata["secret"] = True
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    if isinstance(default, (list, dict, set)):
        raise ValueError("use default_factory= for a mutable default")
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ArgType:
    """What an annotation means for parsing: the scalar type, list-ness, choices."""

    scalar: type
    is_list: bool = False
    optional: bool = False
    choices: tuple[Any, ...] | None = None

    @property
    def label(self) -> str:
        base = "|".join(map(str, self.choices)) if self.choices else self.scalar.__name__
        return f"{base} ..." if self.is_list else base


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        members = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(members) == 1 and len(members) < len(typing.get_args(tp)):
            return members[0], True
    return tp, False


def _scalar(tp: Any) -> tuple[type, tuple[Any, ...] | None]:
    if typing.get_origin(tp) is Literal:
        choices = typing.get_args(tp)
        return type(choices[0]), choices
    if tp in (str, int, float, bool, dict):
        return tp, None
    if typing.get_origin(tp) is dict:
        return dict, None
    raise TypeError(f"unsupported argument type {tp!r}")


def arg_type(annotation: Any) -> ArgType:
    """Classify a field annotation; raises TypeError for anything unsupported."""
    inner, optional = _strip_optional(annotation)
    if typing.get_origin(inner) is list:
        (element,) = typing.get_args(inner) or (str,)
        scalar, choices = _scalar(element)
        return ArgType(scalar, is_list=True, optional=optional, choices=choices)
    scalar, choices = _scalar(inner)
    return ArgType(scalar, optional=optional, choices=choices)


@dataclass(frozen=True)
class ArgField:
    """A declared argument as the parser and the help see it."""

    name: str
    type: ArgType
    default: Any
    help: str
    aliases: tuple[str, ...]
    selects: str | None
    metavar: str | None
    read_by: str | None = None
    unsupported: str | None = None
    secret: bool = False
    enables: str | None = None
    selects_path: str | None = None
    selects_nothing: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)

    def convert(self, value: Any, source: str) -> Any:
        """Turn a CLI string, a YAML value or an args.json value into this field's type."""
        if self.type.is_list:
            if value is None and self.type.optional:
                return None
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self._convert_one(v, source) for v in items]
        return self._convert_one(value, source)

    def _convert_one(self, value: Any, source: str) -> Any:
        if value is None:
            if self.type.optional or self.default is None:
                return None
            raise ArgumentError(f"{source}: --{self.name} cannot be empty")
        scalar = self.type.scalar
        try:
            converted = _CONVERTERS[scalar](value)
        except (ValueError, TypeError) as exc:
            raise ArgumentError(
                f"{source}: --{self.name} expects {self.type.label}, got {value!r} ({exc})"
            ) from None
        if self.type.choices is not None and converted not in self.type.choices:
            options = ", ".join(map(str, self.type.choices))
            raise ArgumentError(f"{source}: --{self.name} must be one of {options}, got {value!r}")
        return converted


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("use true or false")


def _to_dict(value: Any) -> dict:
    if isinstance(value, dict):
        return value
    import json
    import os

    text = str(value)
    if text.endswith(".json") and os.path.isfile(text):
        with open(text, encoding="utf-8") as file:
            text = file.read()
    parsed = json.loads(text)
    if not isinstance(parsed, dict):
        raise ValueError("a JSON object is required")
    return parsed


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("not an integer")
    if isinstance(value, float) and not value.is_integer():
        raise ValueError("not an integer")
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("not a number")
    return float(value)


def _to_str(value: Any) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError("not a string")
    return str(value)


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    str: _to_str,
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    dict: _to_dict,
}


@functools.cache
def fields_of(group: type) -> tuple[ArgField, ...]:
    """The declared arguments of a group dataclass, in declaration order (cached)."""
    return tuple(_declared(group))


def _declared(group: type) -> Iterator[ArgField]:
    if not dataclasses.is_dataclass(group):
        raise TypeError(f"{group.__qualname__} is not a dataclass")
    hints = typing.get_type_hints(group)
    for f in dataclasses.fields(group):
        if "help" not in f.metadata:
            raise TypeError(f"{group.__qualname__}.{f.name} was not declared with arg(help=...)")
        try:
            kind = arg_type(hints[f.name])
        except TypeError as exc:
            raise TypeError(f"{group.__qualname__}.{f.name}: {exc}") from None
        if f.default is not _MISSING:
            default = f.default
        elif f.default_factory is not _MISSING:
            default = f.default_factory()
        else:
            raise TypeError(f"{group.__qualname__}.{f.name} needs a default")
        yield ArgField(
            name=f.name,
            type=kind,
            default=default,
            help=f.metadata["help"],
            aliases=f.metadata.get("aliases", ()),
            selects=f.metadata.get("selects"),
            metavar=f.metadata.get("metavar"),
            read_by=f.metadata.get("read_by"),
            unsupported=f.metadata.get("unsupported"),
            secret=f.metadata.get("secret", False),
            enables=f.metadata.get("enables"),
            selects_path=f.metadata.get("selects_path"),
            selects_nothing=f.metadata.get("selects_nothing", ()),
        )
