"""Finding, loading and registering plugins: the plugin host.

Core's built-ins, installed distributions (entry-point group `tunekite`) and local
files (`--custom_register_path`) all become pluggy plugins of one manager. A plugin
that fails to import or to register is recorded with its distribution and error and
left out; the rest keep working (`TUNEKITE_STRICT_PLUGINS=1` makes it fatal). So is a
plugin built for another plugin API (`TUNEKITE_API`, see `tunekite.API_VERSION`), and
every distribution of an entry-point name that two distributions declare.

Environment switches:
  TUNEKITE_PLUGINS=a,b                  load only these entry points / distributions
  TUNEKITE_DISABLE_PLUGIN_AUTOLOAD=1    load no installed plugin (built-ins still load)
  TUNEKITE_STRICT_PLUGINS=1             a plugin that fails to load is an error
  TUNEKITE_TRACE_PLUGINS=1              print every plugin load and hook call to stderr
  TUNEKITE_CUSTOM_REGISTER_PATH=a.py:b.py  local plugin files (how runs hand their
                                        plugins to spawned workers and ranks)
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pluggy

from tunekite import API_VERSION, __version__, catalog, entry_points, hookspecs
from tunekite.errors import PluginError, did_you_mean
from tunekite.registrations import SPEC_TYPES, ComponentSpec
from tunekite.registry import Entry, Registry

CUSTOM_PATH_ENV = "TUNEKITE_CUSTOM_REGISTER_PATH"
BUILTIN_PLUGINS: tuple[str, ...] = ("tunekite.builtins",)
"""Core's own plugins, imported by name as pytest imports its default plugins, so the host
does not depend on the recipes and tasks they register (see tools/check_layers.py)."""
_TRUE = {"1", "true", "yes", "on"}
_WARNED: set[str] = set()  # plugin failures already reported on stderr by this process


def _flag(env: Mapping[str, str], name: str) -> bool:
    return env.get(name, "").strip().lower() in _TRUE


def _normalize(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def declared_api(plugin: Any) -> tuple[int, ...]:
    """The plugin API versions a plugin says it was built for: its `TUNEKITE_API`, an int
    or a tuple of ints. A plugin that declares none is taken as built for API 1, the first."""
    value = getattr(plugin, "TUNEKITE_API", 1)
    try:
        return tuple(int(v) for v in (value if isinstance(value, (tuple, list)) else (value,)))
    except (TypeError, ValueError):
        return ()  # not a version: compatible with nothing


def _shared_names(installed: list[entry_points.InstalledEntryPoint]) -> dict[str, list[str]]:
    """Entry-point names that more than one distribution declares, with those distributions."""
    owners: dict[str, list[str]] = {}
    for ep in installed:
        owners.setdefault(ep.name, []).append(f"{ep.distribution} {ep.version}")
    return {name: sorted(dists) for name, dists in owners.items() if len(dists) > 1}


@dataclass
class PluginInfo:
    """One plugin as `tk plugins` reports it."""

    name: str
    source: str  # "builtin", "entry point" or "file"
    distribution: str | None = None
    version: str | None = None
    location: str | None = None
    registered: dict[str, list[str]] = field(default_factory=dict)
    status: str = "loaded"  # "loaded", "failed", "incompatible" or "disabled"
    error: str | None = None
    missing: str | None = None  # what its TUNEKITE_REQUIRES lacks, and what to install

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class _Manager(pluggy.PluginManager):
    """Also accepts undecorated `tk_*` functions, so a forgotten `@hookimpl` in a local
    file is caught by the unknown-hook check instead of being silently ignored."""

    def parse_hookimpl_opts(self, plugin: Any, name: str) -> Any:
        opts = super().parse_hookimpl_opts(plugin, name)
        if opts is None and name.startswith("tk_") and inspect.isroutine(getattr(plugin, name, None)):
            return {}
        return opts


class PluginHost:
    """Every loaded plugin and, built once on first use, the registries they fill."""

    def __init__(self, env: Mapping[str, str] | None = None, *, autoload: bool = True) -> None:
        self.env = dict(os.environ if env is None else env)
        self.strict = _flag(self.env, "TUNEKITE_STRICT_PLUGINS")
        self.trace = _flag(self.env, "TUNEKITE_TRACE_PLUGINS")
        self.pm = _Manager("tunekite")
        self.pm.add_hookspecs(hookspecs)
        self.plugins: list[PluginInfo] = []
        self._infos: dict[str, PluginInfo] = {}  # by pluggy registration name
        self.custom_paths: list[str] = []
        self._incompatible: list[tuple[Any, PluginInfo]] = []
        self._registries: dict[str, Registry] | None = None
        self.warn_failures = True  # `tk plugins` shows failures in its table instead
        if self.trace:
            self.pm.trace.root.setwriter(sys.stderr.write)
            self.pm.enable_tracing()
        for module in BUILTIN_PLUGINS:
            info = PluginInfo(module.rpartition(".")[2], "builtin", "tunekite", __version__)
            self.add_plugin(importlib.import_module(module), info)
        if autoload and not _flag(self.env, "TUNEKITE_DISABLE_PLUGIN_AUTOLOAD"):
            self._load_entry_points()
        for path in filter(None, self.env.get(CUSTOM_PATH_ENV, "").split(os.pathsep)):
            self.add_file(path)

    # -- loading -------------------------------------------------------------------

    def _trace(self, message: str) -> None:
        if self.trace:
            print(f"tunekite: {message}", file=sys.stderr)

    def _selected(self, name: str, dist: str | None) -> bool:
        wanted = self.env.get("TUNEKITE_PLUGINS", "")
        if not wanted.strip():
            return True
        names = {_normalize(n) for n in wanted.split(",") if n.strip()}
        own = {_normalize(name)}
        if dist:
            own |= {_normalize(dist), _normalize(dist).removeprefix("tunekite-")}
        return bool(names & own)

    def _load_entry_points(self) -> None:
        installed = entry_points.installed()
        shared = _shared_names(installed)
        for ep in installed:
            info = PluginInfo(ep.name, "entry point", ep.distribution, ep.version, ep.value)
            if not self._selected(ep.name, ep.distribution):
                info.status = "disabled"
                info.error = "not in TUNEKITE_PLUGINS"
                self.plugins.append(info)
                continue
            if ep.name in shared:
                owners = " and ".join(shared[ep.name])
                message = f"entry point {ep.name!r} is declared by both {owners}; uninstall one"
                self._fail(info, PluginError(message))
                continue
            try:
                plugin = ep.load()
            except Exception as exc:  # any import failure must not brick the CLI
                self._fail(info, exc)
                continue
            built_for = declared_api(plugin)
            if API_VERSION not in built_for:
                versions = "/".join(map(str, built_for)) or repr(getattr(plugin, "TUNEKITE_API", None))
                message = f"built for API {versions}, core has {API_VERSION} (tunekite {__version__})"
                self._incompatible.append((plugin, info))
                self._fail(info, PluginError(message), status="incompatible")
                continue
            try:
                self.add_plugin(plugin, info)
            except PluginError as exc:
                self._fail(info, exc)

    def install_hint(self, module: str) -> str | None:
        """`pip install '...'` for a missing module: from catalog.INSTALLS or from what a
        loaded plugin's `TUNEKITE_REQUIRES` says brings it."""
        declared: dict[str, str] = {}
        for plugin in self.pm.get_plugins():
            requires = getattr(plugin, "TUNEKITE_REQUIRES", None)
            if isinstance(requires, Mapping):
                declared.update(requires)
        return catalog.install_hint(module, declared)

    def _fail(self, info: PluginInfo, exc: BaseException, status: str = "failed") -> None:
        info.status = status
        info.error = str(exc) if isinstance(exc, PluginError) else f"{type(exc).__name__}: {exc}"
        if info not in self.plugins:
            self.plugins.append(info)
        if self.trace:
            import traceback

            self._trace(f"plugin {info.name} ({info.distribution}) failed:\n{traceback.format_exc()}")
        if self.strict:
            raise PluginError(
                f"Plugin {info.name!r} from {info.distribution or info.location} failed to load: "
                f"{info.error} (TUNEKITE_STRICT_PLUGINS is set)"
            ) from exc

    def add_plugin(self, plugin: Any, info: PluginInfo) -> None:
        """Register a plugin object; unknown `tk_*` hook names are rejected."""
        try:
            hash(plugin)
        except TypeError:
            raise PluginError(
                f"Plugin {info.name!r} is a {type(plugin).__name__}, which is unhashable; "
                "use a module, a class or an instance"
            ) from None
        if self.pm.is_registered(plugin):
            return
        key = f"{info.source}:{info.name}:{info.location}"
        try:
            self.pm.register(plugin, name=key)
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"Plugin {info.name!r} ({info.location}): {exc}") from None
        unknown = [caller.name for caller in self.pm.get_hookcallers(plugin) or [] if not caller.has_spec()]
        if unknown:
            self.pm.unregister(plugin)
            known = [*hookspecs.REGISTER_HOOKS.values(), "tk_register_commands", "tk_train_callbacks"]
            hints = [f"{name}.{did_you_mean(name, known, quote='')}" for name in unknown]
            raise PluginError(
                f"Plugin {info.name!r} ({info.location}) implements unknown hook(s): "
                f"{' '.join(hints)} Known hooks: {', '.join(known)}."
            )
        self.plugins.append(info)
        self._infos[key] = info
        info.missing = catalog.missing_modules(getattr(plugin, "TUNEKITE_REQUIRES", ()))
        self._registries = None
        self._trace(f"loaded plugin {info.name} ({info.distribution or info.location})")

    def add_file(self, path: str | os.PathLike[str]) -> None:
        """Register a local .py file as a plugin (`--custom_register_path`).

        The file is imported under a module name unique to its absolute path, with its
        folder on `sys.path` only while it is imported. Failures are always errors:
        the user asked for this file by name.
        """
        from pathlib import Path  # here, not at import: `tk --help` never needs it

        resolved = Path(path).expanduser().resolve()
        if str(resolved) in self.custom_paths:
            return
        if not resolved.is_file():
            raise PluginError(f"--custom_register_path: no such file: {path}")
        if resolved.suffix != ".py":
            raise PluginError(f"--custom_register_path: {path} is not a .py file")
        import hashlib

        digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
        module_name = f"tunekite_custom_{resolved.stem}_{digest}"
        module = sys.modules.get(module_name) or _import_file(module_name, resolved)
        info = PluginInfo(resolved.stem, "file", None, None, str(resolved))
        self.add_plugin(module, info)
        self.custom_paths.append(str(resolved))

    # -- registries ----------------------------------------------------------------

    def registry(self, kind: str) -> Registry:
        if kind not in SPEC_TYPES:
            hint = did_you_mean(kind, list(SPEC_TYPES))
            raise PluginError(f"Unknown component kind {kind!r}.{hint} Kinds: {', '.join(SPEC_TYPES)}.")
        return self._built()[kind]

    def _built(self) -> dict[str, Registry]:
        if self._registries is None:
            self._registries = self._build_registries()
            self._warn_failed()
        return self._registries

    def _warn_failed(self) -> None:
        """One stderr line per failed plugin and process, so `tk list` and `tk run` are not
        silent about a plugin they left out."""
        if not self.warn_failures:
            return
        for p in self.plugins:
            key = f"{p.name}|{p.distribution or p.location}|{p.error}"
            if p.status != "failed" or key in _WARNED:
                continue
            _WARNED.add(key)
            print(
                f"tunekite: warning: plugin {p.name!r} ({p.distribution or p.location}) failed to load "
                f"and is left out: {p.error} (see `tk plugins`)",
                file=sys.stderr,
            )

    def _build_registries(self) -> dict[str, Registry]:
        registries = {kind: Registry(kind) for kind in SPEC_TYPES}
        for plugin, info in self._loaded():
            try:
                staged = self._collect(plugin)
            except Exception as exc:
                self.pm.unregister(plugin)
                self._fail(info, exc)
                continue
            info.registered = {}
            for spec in staged:
                info.registered.setdefault(spec.kind, []).append(spec.name)
                builtin = info.source == "builtin"
                registries[spec.kind].add(Entry(spec, info.name, info.distribution, builtin))
        hints, note = catalog.hints(self.plugins), catalog.failure_note(self.plugins)
        for plugin, info in self._incompatible:
            info.registered = {}
            for spec in _specs_of(plugin):
                info.registered.setdefault(spec.kind, []).append(spec.name)
                hints.setdefault(spec.kind, {})[spec.name] = catalog.unusable(spec.name, info)
        for kind, reg in registries.items():
            reg.hints, reg.note = hints.get(kind, {}), note
        return registries

    def warnings(self) -> list[str]:
        """What a run should print before starting: plugin names that core's built-ins shadow."""
        return [w for reg in self._built().values() for w in reg.warnings]

    def _loaded(self) -> list[tuple[Any, PluginInfo]]:
        pairs = [(plugin, self._infos[name]) for name, plugin in self.pm.list_name_plugin()]
        return [(plugin, info) for plugin, info in pairs if info.status == "loaded"]

    def _call_one(self, plugin: Any, hook_name: str, **kwargs: Any) -> list[Any]:
        """Call one hook of one plugin only, through pluggy (so tracing sees it)."""
        others = [p for p in self.pm.get_plugins() if p is not plugin]
        return self.pm.subset_hook_caller(hook_name, others)(**kwargs)

    def _collect(self, plugin: Any) -> list[ComponentSpec]:
        """Call one plugin's registration hooks; validate each spec it hands over."""
        staged: list[ComponentSpec] = []
        for kind, hook_name in hookspecs.REGISTER_HOOKS.items():
            expected = SPEC_TYPES[kind]

            def register(spec: ComponentSpec, _kind: str = kind, _type: type = expected) -> None:
                if not isinstance(spec, _type):
                    raise PluginError(
                        f"{hookspecs.REGISTER_HOOKS[_kind]} got {type(spec).__name__}; "
                        f"register a {_type.__name__}"
                    )
                staged.append(spec)

            self._call_one(plugin, hook_name, register=register)
        return staged

    def failed(self) -> list[PluginInfo]:
        self._built()  # registration can fail too
        return [p for p in self.plugins if p.status == "failed"]

    def worker_env(self) -> dict[str, str]:
        """Environment that makes a spawned worker or rank load this host's local plugins."""
        return {CUSTOM_PATH_ENV: os.pathsep.join(self.custom_paths)} if self.custom_paths else {}

    def call_commands(self, cli: Any) -> None:
        """Let each plugin add `tk` commands; one that fails or replaces an existing
        command is reported as failed and its commands are left out."""
        for plugin, info in self._loaded():
            before = dict(cli.commands)
            try:
                self._call_one(plugin, "tk_register_commands", cli=cli)
                replaced = [name for name, cmd in before.items() if cli.commands.get(name) is not cmd]
                if replaced:
                    raise PluginError(f"tk_register_commands replaced existing command(s) {replaced}")
            except Exception as exc:
                cli.commands.clear()
                cli.commands.update(before)
                self.pm.unregister(plugin)
                self._registries = None
                self._fail(info, exc)

    def train_callbacks(self, run: Any) -> list[Any]:
        return [cb for found in self.pm.hook.tk_train_callbacks(run=run) if found for cb in found]


def _specs_of(plugin: Any) -> list[ComponentSpec]:
    """What a plugin that is not loaded would register, for messages only: its hooks are
    called directly, and whatever fails (it was built for another API) is skipped."""
    found: list[ComponentSpec] = []
    for hook_name in hookspecs.REGISTER_HOOKS.values():
        hook = getattr(plugin, hook_name, None)
        if not callable(hook):
            continue
        try:
            hook(register=found.append)
        except Exception:  # names are a courtesy: the plugin is reported anyway
            continue
    return [spec for spec in found if isinstance(spec, ComponentSpec)]


def _import_file(module_name: str, path: Any) -> ModuleType:
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"--custom_register_path: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(path.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(
            f"--custom_register_path: importing {path} failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        sys.path.remove(folder)
    return module


_host: PluginHost | None = None


def get_host() -> PluginHost:
    """The process-wide plugin host, built on first use."""
    global _host
    if _host is None:
        _host = PluginHost()
    return _host


def set_host(host: PluginHost | None) -> PluginHost | None:
    """Swap the process-wide host (tests); returns the previous one."""
    global _host
    previous, _host = _host, host
    return previous


def registry(kind: str) -> Registry:
    """The registry of one kind from the process-wide host."""
    return get_host().registry(kind)
