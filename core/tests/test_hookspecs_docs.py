"""Every hook is documented and every component kind has exactly one registration hook."""

from __future__ import annotations

import inspect
import re
import textwrap

import pytest

from tunekite import api, hookspecs
from tunekite.errors import PluginError
from tunekite.plugin_host import PluginHost, PluginInfo
from tunekite.registrations import SPEC_TYPES

HOOKS = {
    name: fn
    for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and hasattr(fn, "tunekite_spec")
}


def test_hooks_are_found() -> None:
    assert {"tk_register_tuners", "tk_register_commands", "tk_train_callbacks"} <= set(HOOKS)
    assert all(name.startswith("tk_") for name in HOOKS)


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_docstring_says_when_gets_returns_with_example(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    for section in ("When:", "Gets:", "Returns:", "Example::"):
        assert section in doc, f"{name} docstring lacks {section!r}"
    assert doc.splitlines()[0].strip(), f"{name} needs a summary line"


@pytest.mark.parametrize("name", sorted(HOOKS))
def test_hook_example_is_valid_python_using_the_hook(name: str) -> None:
    doc = inspect.getdoc(HOOKS[name]) or ""
    example = textwrap.dedent(doc.split("Example::", 1)[1].strip("\n"))
    compile(example, f"<{name} example>", "exec")
    assert re.search(rf"@hookimpl\s+def {name}\(", example), f"{name} example does not implement the hook"


def test_every_kind_has_a_register_hook_and_vice_versa() -> None:
    assert set(hookspecs.REGISTER_HOOKS) == set(SPEC_TYPES)
    for kind, hook in hookspecs.REGISTER_HOOKS.items():
        assert hook == f"tk_register_{kind}"
        assert hook in HOOKS
    extra = {n for n in HOOKS if n.startswith("tk_register_")} - set(hookspecs.REGISTER_HOOKS.values())
    assert extra == {"tk_register_commands"}


@pytest.mark.parametrize("hook", sorted(hookspecs.REGISTER_HOOKS.values()))
def test_register_hooks_take_only_register(hook: str) -> None:
    assert list(inspect.signature(HOOKS[hook]).parameters) == ["register"]


def test_unknown_hook_error_lists_exactly_the_spec_hooks() -> None:
    host = PluginHost(env={}, autoload=False)
    bogus = type("Bogus", (), {"tk_bogus": staticmethod(lambda: None)})
    with pytest.raises(PluginError) as info:
        host.add_plugin(bogus, PluginInfo("bogus", "test"))
    listed = str(info.value).split("Known hooks: ", 1)[1].rstrip(".").split(", ")
    assert set(listed) == set(HOOKS)


def test_hookspecs_import_spec_types_only_for_type_checking() -> None:
    assert "TunerSpec" not in vars(hookspecs)
    assert "Run" not in vars(hookspecs)


def test_spec_kinds_match_their_class() -> None:
    for kind, spec_type in SPEC_TYPES.items():
        assert spec_type.kind == kind
        assert getattr(api, spec_type.__name__) is spec_type


def test_api_exports_exist() -> None:
    missing = [name for name in api.__all__ if not hasattr(api, name)]
    assert missing == []
