"""Forms generated from argument declarations, without gradio: which widget each declared
argument gets (`FieldView`), which argument groups a runnable and the installed components
have (`GroupView`), and the `tk run` options that form values stand for.

Everything comes from core's public argument model (`tunekite.api.resolve`, `fields_of`):
a component installed later brings its declaration, so it gets its form with no UI code.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunekite.api import ArgField, fields_of

NOT_IN_FORMS = frozenset({"custom_register_path", "load_args"})
"""Arguments read before the form exists: the page passes the plugins it loaded itself."""
SUGGESTIONS = {"model": "models", "dataset": "datasets"}
"""Free-text arguments whose dropdown suggests the registered names of a kind."""
TRAIN_KINDS = ("trainers", "tuners", "rewards", "quantizers", "loss_scales")
"""Component kinds whose own argument groups the train form shows."""


@dataclass(frozen=True)
class FieldView:
    """One declared argument as a widget: `kind` is checkbox, dropdown, multiselect, integer,
    number, json, list, password or text; `choices` for dropdowns; `custom` when a dropdown
    also takes a typed value (a path, a hub id)."""

    group: str
    field: ArgField
    kind: str
    choices: tuple[str, ...] = ()
    custom: bool = False

    @property
    def key(self) -> str:
        return f"{self.group}.{self.field.name}"

    @property
    def label(self) -> str:
        return self.field.name

    @property
    def info(self) -> str:
        return self.field.help

    def initial(self) -> Any:
        """The widget's starting value: the declared default."""
        return self.widget_value(self.field.default)

    def widget_value(self, value: Any) -> Any:
        """An argument's value as the widget holds it (text boxes hold text)."""
        if self.kind in ("list", "json", "text", "password"):
            return display(value)
        if self.kind == "multiselect":
            return list(value or [])
        return value

    def option(self, value: Any, default: Any) -> list[str]:
        """`--name value` for a widget value that differs from `default` (the run's effective
        default), else nothing. Values go to the CLI as typed: its validation judges them."""
        name = self.field.name
        if self.kind == "checkbox":
            return [] if bool(value) == bool(default) else [f"--{name}", "true" if value else "false"]
        if self.kind in ("list", "multiselect"):
            items = shlex.split(value or "") if self.kind == "list" else [str(v) for v in value or []]
            return [] if items == [str(d) for d in default or []] else [f"--{name}", *items]
        if self.kind in ("text", "password", "json") or (self.kind == "dropdown" and self.custom):
            text = "" if value is None else str(value).strip()
            return [] if text == display(default) else ([f"--{name}", text] if text else [])
        if value is None or value == "":
            return []
        if self.kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        return [] if value == default else [f"--{name}", str(value)]


def display(value: Any) -> str:
    """A default as a text box shows it: lists space-separated, dicts as JSON, None empty."""
    if value is None:
        return ""
    if isinstance(value, list):
        return shlex.join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


@dataclass(frozen=True)
class GroupView:
    """One argument group: `key` as in `Run.groups` ("training", "tuners:lora"), a title,
    and its fields as widgets."""

    key: str
    title: str
    fields: tuple[FieldView, ...]


def field_view(group: str, f: ArgField, host: Any) -> FieldView:
    """The widget of one declared argument: types to widgets, `selects` to a dropdown of the
    installed names of that kind."""
    kind_of_names = f.selects or SUGGESTIONS.get(f.name)
    if kind_of_names:
        names = tuple(host.registry(kind_of_names).names())
        if f.type.is_list:
            return FieldView(group, f, "multiselect", names, custom=f.selects is None)
        return FieldView(group, f, "dropdown", names, custom=f.selects is None or f.type.optional)
    if f.type.choices is not None:
        choices = tuple(map(str, f.type.choices))
        return FieldView(group, f, "multiselect" if f.type.is_list else "dropdown", choices)
    if f.secret:
        return FieldView(group, f, "password")
    if f.type.is_list:
        return FieldView(group, f, "list")
    if f.default is None:  # a number box cannot be empty: "" means None only in a text box
        return FieldView(group, f, "json" if f.type.scalar is dict else "text")
    kind = {bool: "checkbox", int: "integer", float: "number", dict: "json"}.get(f.type.scalar, "text")
    return FieldView(group, f, kind)


def group_view(key: str, cls: type, host: Any, skip: Iterable[str] = ()) -> GroupView:
    """The widgets of one argument group dataclass, without the arguments in `skip`."""
    skipped = NOT_IN_FORMS | set(skip)
    kind, _, name = key.partition(":")
    title = f"{kind[:-1].replace('_', ' ')} {name}" if name else key.capitalize()
    fields = tuple(field_view(key, f, host) for f in fields_of(cls) if f.name not in skipped)
    return GroupView(key, title, fields)


def runnable_groups(names: Sequence[str], host: Any, kinds: Sequence[str]) -> list[GroupView]:
    """The groups the runnables `names` take (in declaration order, each once), then the own
    group of every installed component of `kinds` that declares one."""
    from tunekite.api import resolve

    views: dict[str, GroupView] = {}
    for name in names:
        run, _ = resolve(name, ["--help"], host)
        for key, group in run.groups.items():
            if key not in views:
                views[key] = group_view(key, type(group), host)
    for kind in kinds:
        for entry in host.registry(kind):
            key = f"{kind}:{entry.spec.name}"
            if entry.spec.args is not None and not getattr(entry.spec, "dispatch", None):
                views.setdefault(key, group_view(key, entry.spec.args, host))
    return list(views.values())


def effective_defaults(run: Any) -> dict[str, Any]:
    """`{group key.argument: value}` of a run resolved with only its selections (`--help`):
    declared defaults after the runnable's own (`pt` trains every token) and the tuner's
    learning rate."""
    return {
        f"{key}.{f.name}": getattr(group, f.name)
        for key, group in run.groups.items()
        for f in fields_of(type(group))
    }


def form_argv(
    fields: Sequence[FieldView],
    values: Sequence[Any],
    active: Iterable[str],
    defaults: Mapping[str, Any],
    selector_defaults: Mapping[str, Any],
) -> list[str]:
    """The options of the widgets of the `active` groups whose values differ from `defaults`
    (a selector's from `selector_defaults`, resolved before anything was selected; a field
    missing there from its declaration)."""
    shown = set(active)
    argv: list[str] = []
    for view, value in zip(fields, values, strict=True):
        if view.group in shown:
            source = selector_defaults if view.field.selects or view.field.enables else defaults
            argv += view.option(value, source.get(view.key, view.field.default))
    return argv


def form_options(
    name: str, fields: Sequence[FieldView], values: Sequence[Any], host: Any, prefix: Sequence[str] = ()
) -> list[str]:
    """The `tk run NAME` options a form stands for: `prefix`, then every shown widget whose
    value differs from the run's effective default."""
    from tunekite.api import resolve

    before, _ = resolve(name, [*prefix, "--help"], host)
    run = resolved_groups(name, fields, values, host, prefix)
    changed = form_argv(fields, values, run.groups, effective_defaults(run), effective_defaults(before))
    return [*prefix, *changed]


def selections(fields: Sequence[FieldView], values: Sequence[Any], active: Iterable[str]) -> list[str]:
    """The options of the widgets of the `active` groups that select components (`--tuner`,
    `--reward_funcs`, `--to_gguf`): what decides which further groups a run has."""
    shown = set(active)
    argv: list[str] = []
    for view, value in zip(fields, values, strict=True):
        if view.group in shown and (view.field.selects or view.field.enables):
            argv += view.option(value, view.field.default)
    return argv


def resolved_groups(
    name: str, fields: Sequence[FieldView], values: Sequence[Any], host: Any, prefix: Sequence[str] = ()
) -> Any:
    """The run `name` resolves to with `prefix` and the form's selections only (`--help`: no
    validation): its `groups` are the groups the form shows, its values the effective
    defaults. Selections are followed until no new group appears (a GRPO run's rewards)."""
    from tunekite.api import resolve

    run, _ = resolve(name, [*prefix, "--help"], host)
    while True:
        argv = [*prefix, *selections(fields, values, run.groups), "--help"]
        again, _ = resolve(name, argv, host)
        if set(again.groups) == set(run.groups):
            return again
        run = again
