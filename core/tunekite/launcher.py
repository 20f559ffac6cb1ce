"""`tk run NAME ...`: resolve a runnable, its arguments and its components, then start it.

Resolution reads top to bottom: load the plugins the arguments name, find the
runnable, collect the core groups it takes, add the argument group of every
component the arguments select (until nothing new is selected), parse, validate,
and only then touch the disk: a trainer's run folder and `args.json`.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tunekite import __version__
from tunekite.arguments.fields import fields_of
from tunekite.arguments.groups import CORE_GROUPS, GROUP_TITLES
from tunekite.arguments.parser import ArgumentSet, Group, Layer, preparse
from tunekite.arguments.secrets import SECRET_GIVEN, missing_notice
from tunekite.arguments.support import refuse_unread
from tunekite.arguments.validate import validate
from tunekite.distributed import close_process_group, init_process_group, is_main_process
from tunekite.errors import ArgumentError, DuplicateNameError, UnknownNameError, did_you_mean
from tunekite.onednn_cache import bound_primitive_cache
from tunekite.plugin_host import PluginHost
from tunekite.registrations import KINDS, ComponentSpec, RunnableSpec
from tunekite.run_folder import (
    OutputError,
    describe_os_error,
    describe_write_failure,
    run_folder,
    wants_run_folder,
    write_args,
)

RUNNABLE_KINDS = ("trainers", "tasks")
_COMPONENT_KINDS = tuple(k for k in KINDS if k not in RUNNABLE_KINDS)


@dataclass(frozen=True)
class Run:
    """A resolved run: typed argument groups, selected components, output folder.

    Arguments are reachable by group (`run.groups["training"].learning_rate`) or flat
    (`run.learning_rate`), as in ms-swift's argument objects.
    """

    command: str
    spec: RunnableSpec
    groups: dict[str, Any]
    components: dict[str, list[ComponentSpec]]
    output_dir: Path | None = None
    plugins: list[dict[str, Any]] = field(default_factory=list)
    plugin_host: PluginHost | None = field(default=None, repr=False, compare=False)
    """The plugin host the run was resolved with: recipes, tasks and resolvers look
    components up in its registries (`run.plugin_host.registry("tuners")`). Not `host`,
    which is deploy's `--host` argument."""

    def __getattr__(self, name: str) -> Any:
        for group in self.__dict__.get("groups", {}).values():
            if name in getattr(group, "__dataclass_fields__", {}):
                return getattr(group, name)
        raise AttributeError(f"no argument named {name!r} in this run")

    def values(self) -> dict[str, Any]:
        """Every argument, flat, as written to args.json."""
        flat: dict[str, Any] = {}
        for group in self.groups.values():
            flat.update(asdict(group))
        return flat

    def component(self, kind: str) -> ComponentSpec:
        """The single selected component of a kind (e.g. the tuner)."""
        (spec,) = self.components[kind]
        return spec

    def component_args(self, spec: ComponentSpec) -> Any:
        """The selected component's own argument group (None when it declares none)."""
        return self.groups.get(_component_key(spec))

    def manifest(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "tunekite_version": __version__,
            "components": {k: [s.name for s in v] for k, v in self.components.items()},
            "plugins": self.plugins,
        }


def _component_key(spec: ComponentSpec) -> str:
    return f"{spec.kind}:{spec.name}"


def find_runnable(host: PluginHost, name: str) -> RunnableSpec:
    """A trainer or a task by name; the error lists both kinds."""
    found = [host.registry(kind).entry(name) for kind in RUNNABLE_KINDS if name in host.registry(kind)]
    if len(found) > 1:
        owners = " and ".join(f"{e.spec.kind[:-1]} {name!r} of {e.distribution or e.plugin}" for e in found)
        raise DuplicateNameError(f"`tk run {name}` is ambiguous: {owners}. Uninstall one of them.")
    if found:
        return found[0].spec
    known = sorted(n for kind in RUNNABLE_KINDS for n in host.registry(kind).names())
    hint = did_you_mean(name, known)
    for kind in RUNNABLE_KINDS:  # a name the catalog knows says what to install
        hint += f" {host.registry(kind).hints[name]}" if name in host.registry(kind).hints else ""
    raise UnknownNameError(f"Unknown trainer or task {name!r}.{hint} Available: {', '.join(known)}.")


def _core_groups(spec: RunnableSpec, owner: str) -> list[Group]:
    keys = ["common", *(k for k in spec.groups if k != "common")]
    unknown = [k for k in keys if k not in CORE_GROUPS]
    if unknown:
        raise ArgumentError(
            f"{spec.kind[:-1]} {spec.name!r} asks for unknown argument group(s) {unknown}; "
            f"core groups are {', '.join(CORE_GROUPS)}"
        )
    groups = [Group(k, GROUP_TITLES[k], CORE_GROUPS[k]) for k in keys]
    if spec.args is not None:
        groups.append(_component_group(spec, owner))
    return groups


def _component_group(spec: ComponentSpec, owner: str) -> Group:
    return Group(_component_key(spec), f"{spec.kind[:-1].replace('_', ' ')} {spec.name}", spec.args, owner)


def _owner_of(host: PluginHost, spec: ComponentSpec) -> str:
    if spec.name not in host.registry(spec.kind):
        return "tunekite"  # a core command's own spec, not registered
    entry = host.registry(spec.kind).entry(spec.name)
    return entry.distribution or entry.plugin


def _select(host: PluginHost, argset: ArgumentSet, values: dict[str, Any]) -> dict[str, list[ComponentSpec]]:
    """The components named by selector arguments (`--tuner lora`, `--reward_funcs a b`) and
    switched on by `enables` arguments (`--to_gguf true`), in declaration order."""
    selected: dict[str, list[ComponentSpec]] = {}
    for group in argset.groups:
        for f in group.fields():
            if f.enables is not None and values.get(f.name):
                kind, _, name = f.enables.partition(":")
                names = [name]
            elif f.selects is not None and values.get(f.name) not in (None, []):
                kind, names = f.selects, values[f.name] if f.type.is_list else [values[f.name]]
            else:
                continue
            for name in names:
                if name in f.selects_nothing:
                    continue
                if f.selects_path and name not in host.registry(kind) and Path(name).exists():
                    name = f.selects_path
                try:
                    selected.setdefault(kind, []).append(host.registry(kind).get(name))
                except UnknownNameError as exc:
                    raise ArgumentError(f"--{f.name}: {exc}") from None
    return selected


def _declares(spec: ComponentSpec, name: str) -> bool:
    return spec.args is not None and any(name in f.names for f in fields_of(spec.args))


def _explain_unknown(host: PluginHost, selected: dict[str, list[ComponentSpec]], runnable: RunnableSpec):
    """Explain an option that belongs to a component this run did not select, or to
    another trainer (`tk run dpo --num_ppo_epochs 9`)."""

    def explain(name: str) -> str | None:
        owners = [
            entry for kind in _COMPONENT_KINDS for entry in host.registry(kind) if _declares(entry.spec, name)
        ]
        if not owners:
            return _other_trainers(name)
        # Several components may share an ms-swift name (`lora_rank`): the one it is named
        # after (`lora`) comes first.
        owners.sort(key=lambda e: not name.startswith(e.spec.name))
        spec = owners[0].spec
        what = " or ".join(
            f"{e.spec.kind[:-1].replace('_', ' ')} {e.spec.name!r} ({e.distribution or e.plugin})"
            for e in owners
        )
        chosen = [s.name for s in selected.get(spec.kind, [])]
        now = f"the selected one is {', '.join(map(repr, chosen))}" if chosen else "none is selected"
        return f"belongs to {what}, which this run does not use ({now})."

    def _other_trainers(name: str) -> str | None:
        owners = [
            e
            for e in host.registry("trainers")
            if e.spec.name != runnable.name and not e.spec.dispatch and _declares(e.spec, name)
        ]
        if not owners:
            return None
        names = ", ".join(repr(e.spec.name) for e in owners)
        where = ", ".join(sorted({e.distribution or e.plugin for e in owners}))
        kind = "trainers" if len(owners) > 1 else "trainer"
        return f"belongs to the {kind} {names} ({where}), not to {runnable.kind[:-1]} {runnable.name!r}."

    return explain


def resolve(name: str, argv: Sequence[str], host: PluginHost) -> tuple[Run, bool]:
    """Parse a run's arguments; returns the run and whether `--help` was asked for."""
    return resolve_spec(lambda h: find_runnable(h, name), argv, host)


def resolve_spec(
    find: Callable[[PluginHost], RunnableSpec], argv: Sequence[str], host: PluginHost
) -> tuple[Run, bool]:
    """`resolve` for a runnable found by `find` once local plugins are loaded; commands
    such as `tk data preview` pass their own unregistered spec."""
    pre, layers = preparse(argv)
    for path in pre.custom_register_path or []:
        host.add_file(path)
    spec = alias = find(host)
    name = spec.name
    if alias.dispatch:
        spec = _dispatched(host, alias, argv, layers)
    if spec.defaults:
        layers = [Layer(f"{spec.kind[:-1]} {spec.name}", dict(spec.defaults), strict=False), *layers]
    argset = ArgumentSet(_core_groups(spec, _owner_of(host, spec)))
    if alias is not spec:
        argset.add(_component_group(alias, _owner_of(host, alias)))
    seen: set[str] = set()
    while True:  # selected components may declare selectors of their own
        values = argset.parse(argv, layers)
        selected = _select(host, argset, values)
        new = [s for specs in selected.values() for s in specs if _component_key(s) not in seen]
        if not new:
            break
        for s in new:
            seen.add(_component_key(s))
            if s.args is not None:
                argset.add(_component_group(s, _owner_of(host, s)))
    values = argset.parse(argv, layers, on_unknown=_explain_unknown(host, selected, spec))
    values["custom_register_path"] = list(host.custom_paths)
    refuse_unread(argset.groups, values, selected, spec)
    groups = argset.build(values)
    _apply_component_defaults(groups, selected)
    plugins = [
        {k: getattr(p, k) for k in ("name", "distribution", "version", "source", "location")}
        for p in host.plugins
        if p.status == "loaded"
    ]
    run = Run(name, spec, groups, selected, plugins=plugins, plugin_host=host)
    if not pre.help:
        validate(run)
        _note_missing_secrets(argset, layers, values)
    return run, bool(pre.help)


def _dispatched(
    host: PluginHost, alias: RunnableSpec, argv: Sequence[str], layers: list[Layer]
) -> RunnableSpec:
    """The runnable an alias stands for: the one its `dispatch` argument names, read
    before the runnable's own groups are known."""
    probe = ArgumentSet([_component_group(alias, _owner_of(host, alias))])
    target = probe.parse(argv, layers)[alias.dispatch]
    try:
        return host.registry(alias.kind).get(target)
    except UnknownNameError as exc:
        raise ArgumentError(f"--{alias.dispatch}: {exc}") from None


def _note_missing_secrets(argset: ArgumentSet, layers: Sequence[Layer], values: dict[str, Any]) -> None:
    """One line per secret a reloaded args.json says was given and this run lacks."""
    for layer in layers:
        for key, value in layer.values.items():
            f = argset.field(key)
            if f is not None and f.secret and value == SECRET_GIVEN and values.get(f.name) is None:
                print(missing_notice(f, layer.source), file=sys.stderr)


def _apply_component_defaults(groups: dict[str, Any], selected: dict[str, list[ComponentSpec]]) -> None:
    """Defaults that depend on the selected components (ms-swift: lr 1e-4 tuners, 1e-5 full)."""
    training = groups.get("training")
    if training is not None and training.learning_rate is None and selected.get("tuners"):
        training.learning_rate = selected["tuners"][0].learning_rate


def launch(run: Run) -> Any:
    """Start a resolved run: for a trainer its locked run folder and args.json (see
    `tunekite.run_folder`), then the plugin environment and the factory."""
    os.environ.update(run.plugin_host.worker_env())
    bound_primitive_cache()
    if not wants_run_folder(run):
        return run.spec.load()(run)
    training = run.groups.get("training")
    init_process_group(getattr(training, "ddp_backend", None), getattr(training, "ddp_timeout", 1800))
    with run_folder(run) as folder:
        run = dataclasses.replace(run, output_dir=folder)
        if is_main_process():
            write_args(run, folder)
        try:
            result = run.spec.load()(run)
        except (OSError, RuntimeError) as exc:  # a full disk, a folder deleted or read-only mid-run
            if isinstance(exc, OSError):
                message = describe_os_error(exc, folder)
            else:
                message = describe_write_failure(exc, folder)
            if message is None:
                raise
            raise OutputError(message) from None
    close_process_group()
    return result


def start(name: str, argv: Sequence[str], host: PluginHost) -> Any:
    """Resolve and launch a run in one call."""
    run, _ = resolve(name, argv, host)
    return launch(run)
