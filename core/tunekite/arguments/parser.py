"""From `argv`, a YAML file and an `args.json` to typed argument groups.

Precedence, lowest first: declared defaults, `--load_args` (an earlier run's
`args.json`), `-c run.yaml`, the command line. Parsing imports no plugin code beyond
the argument dataclasses and has no side effects.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunekite.arguments.fields import ArgField, fields_of
from tunekite.arguments.secrets import restore
from tunekite.errors import ArgumentError, did_you_mean

CONFIG_OPTIONS = ("-c", "--config")
ARGS_FILE = "args.json"
META_KEY = "tunekite"
ADAPTER_CONVERTED = "adapter_converted"
"""Set under args.json's `tunekite.checkpoint` when the checkpoint's adapter was rewritten to
apply to the original base model (`TunerSpec.checkpoint_converter`): training cannot resume
from it."""


@dataclass(frozen=True)
class Group:
    """One argument group of a run: a key, a title for help, and its dataclass."""

    key: str
    title: str
    cls: type
    owner: str = "tunekite"

    def fields(self) -> tuple[ArgField, ...]:
        return fields_of(self.cls)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print and exit
        raise ArgumentError(message)


def normalize(option: str) -> str:
    """`--lora-rank`, `--lora_rank` and `lora-rank` all name `lora_rank`."""
    return option.lstrip("-").split("=", 1)[0].replace("-", "_")


def option_strings(name: str) -> list[str]:
    dashed = name.replace("_", "-")
    return [f"--{name}"] + ([f"--{dashed}"] if dashed != name else [])


def _add_field(parser: argparse.ArgumentParser, f: ArgField) -> None:
    strings = [s for n in f.names for s in option_strings(n)]
    kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS}
    if f.type.is_list:
        kwargs.update(nargs="*", type=lambda s, f=f: f._convert_one(s, "command line"))
    elif f.type.scalar is bool:
        kwargs.update(nargs="?", const=True, type=lambda s, f=f: f.convert(s, "command line"))
    else:
        kwargs.update(type=lambda s, f=f: f.convert(s, "command line"))
    parser.add_argument(*strings, **kwargs)


def _read_mapping(file: Path, option: str, fmt: str) -> dict[str, Any]:
    """A flat mapping of argument names to values from a YAML or JSON file."""
    import yaml

    if not file.is_file():
        raise ArgumentError(f"{option}: no such file: {file}")
    text = file.read_text(encoding="utf-8")
    try:
        data = json.loads(text) if fmt == "JSON" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ArgumentError(f"{file}: not valid {fmt}: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ArgumentError(f"{file}: expected a mapping of argument names to values")
    return {normalize(str(k)): v for k, v in data.items()}


def read_config(path: str) -> dict[str, Any]:
    """A YAML run config (`-c run.yaml`)."""
    return _read_mapping(Path(path), "-c/--config", "YAML")


def read_args_json(path: str) -> tuple[Path, dict[str, Any]]:
    """An earlier run's `args.json`, given as the file or the folder holding it."""
    file = Path(path)
    if file.is_dir():
        file = file / ARGS_FILE
    data = _read_mapping(file, "--load_args", "JSON")
    data.pop(META_KEY, None)
    return file, data


@dataclass
class Layer:
    """Values from one source (args.json or YAML), keyed by argument name."""

    source: str
    values: dict[str, Any]
    strict: bool  # unknown keys are errors (YAML) or ignored (args.json of another command)


def preparse(argv: Sequence[str]) -> tuple[argparse.Namespace, list[Layer]]:
    """The options needed before plugins and groups are known: config files and plugins."""
    pre = _Parser(add_help=False, allow_abbrev=False)
    pre.add_argument(*CONFIG_OPTIONS, dest="config", default=None)
    pre.add_argument(*option_strings("load_args"), dest="load_args", default=None)
    paths = [*option_strings("custom_register_path"), *option_strings("external_plugins")]
    pre.add_argument(*paths, dest="custom_register_path", nargs="*", default=None)
    pre.add_argument("-h", "--help", dest="help", action="store_true")
    ns, _ = pre.parse_known_args(list(argv))
    layers: list[Layer] = []
    config = read_config(ns.config) if ns.config else {}
    load_args = ns.load_args or config.get("load_args")
    if load_args:
        file, values = read_args_json(str(load_args))
        layers.append(Layer(str(file), values, strict=False))
    if ns.config:
        layers.append(Layer(ns.config, config, strict=True))
    if ns.custom_register_path is None:
        for layer in reversed(layers):
            found = layer.values.get("custom_register_path") or layer.values.get("external_plugins")
            if found:
                ns.custom_register_path = [found] if isinstance(found, str) else list(found)
                break
    return ns, layers


class ArgumentSet:
    """The groups of one run and the parser generated from them."""

    def __init__(self, groups: Iterable[Group] = ()) -> None:
        self.groups: list[Group] = []
        self._by_name: dict[str, tuple[Group, ArgField]] = {}
        for group in groups:
            self.add(group)

    def add(self, group: Group) -> None:
        added: dict[str, tuple[Group, ArgField]] = {}
        for f in group.fields():
            for name in f.names:
                clash = self._by_name.get(name) or added.get(name)
                if clash is not None:
                    raise ArgumentError(
                        f"argument --{name} is declared by both {clash[0].title} ({clash[0].owner}) "
                        f"and {group.title} ({group.owner})"
                    )
                added[name] = (group, f)
        self._by_name.update(added)
        self.groups.append(group)

    def field(self, name: str) -> ArgField | None:
        found = self._by_name.get(normalize(name))
        return found[1] if found else None

    def known_names(self) -> list[str]:
        return list(self._by_name)

    def _parser(self) -> _Parser:
        parser = _Parser(add_help=False, allow_abbrev=False, prog="tk run")
        parser.add_argument(*CONFIG_OPTIONS, dest="__config", default=argparse.SUPPRESS)
        parser.add_argument("-h", "--help", dest="__help", action="store_true")
        for group in self.groups:
            for f in group.fields():
                _add_field(parser, f)
        return parser

    def parse(
        self, argv: Sequence[str], layers: Sequence[Layer], *, on_unknown: Any = None
    ) -> dict[str, Any]:
        """Merged values for every declared argument (flat, by canonical name).

        `on_unknown(option)` explains an option no group declares (may return None);
        when it is None, unknown options are left for a later, fuller parse.
        """
        merged = {f.name: copy.deepcopy(f.default) for g in self.groups for f in g.fields()}
        for layer in layers:
            self._reject_aliases_together(layer.values, layer.source)
            for key, value in layer.values.items():
                f = self.field(key)
                if f is None:
                    if layer.strict and on_unknown is not None:
                        raise ArgumentError(f"{layer.source}: {self._unknown(key, on_unknown)}")
                    continue
                merged[f.name] = f.convert(restore(f, value), layer.source)
        self._reject_aliases_together([a for a in argv if a.startswith("--")], "command line")
        ns, extras = self._parser().parse_known_args(list(argv))
        if extras and on_unknown is not None:
            self._reject(extras, on_unknown)
        merged.update({k: v for k, v in vars(ns).items() if not k.startswith("__")})
        return merged

    def _reject_aliases_together(self, options: Iterable[str], source: str) -> None:
        """`--tuner lora --train_type full` names one argument twice under two of its names;
        argparse would keep the last silently."""
        used: dict[str, list[str]] = {}
        for option in options:
            f = self.field(option)
            name = normalize(option)
            if f is not None and name in f.names and name not in used.setdefault(f.name, []):
                used[f.name].append(name)
        for names in used.values():
            if len(names) > 1:
                spelled = " and ".join(f"--{n}" for n in names)
                raise ArgumentError(f"{source}: {spelled} are one argument under two names; give only one")

    def _reject(self, extras: list[str], on_unknown: Any) -> None:
        options = [e for e in extras if e.startswith("-")]
        if not options:
            raise ArgumentError(f"unexpected value(s) on the command line: {' '.join(extras)}")
        raise ArgumentError(self._unknown(options[0], on_unknown))

    def _unknown(self, option: str, on_unknown: Any) -> str:
        name = normalize(option)
        owner = on_unknown(name)
        if owner:
            return f"--{name}: {owner}"
        hint = did_you_mean(name, self.known_names(), quote="", prefix="--")
        return f"unknown argument --{name}.{hint}"

    def build(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Instantiate each group's dataclass; its own validation errors name the group."""
        out: dict[str, Any] = {}
        for group in self.groups:
            kwargs = {f.name: values[f.name] for f in group.fields()}
            try:
                out[group.key] = group.cls(**kwargs)
            except (ValueError, TypeError) as exc:
                raise ArgumentError(f"{group.title}: {exc}") from None
        return out
