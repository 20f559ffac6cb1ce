"""Registries built from fake plugins: conflicts, unknown names, broken plugins, spec checks."""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType, SimpleNamespace

import pytest

from tunekite import hookimpl
from tunekite.arguments.fields import arg
from tunekite.errors import DuplicateNameError, PluginError, UnknownNameError
from tunekite.plugin_host import PluginHost, PluginInfo
from tunekite.registrations import RewardSpec, TaskSpec, TemplateSpec, TunerSpec
from tunekite.templates.format import ChatFormat


def plugin(**hooks):
    """A fake plugin object whose `tk_*` attributes are the given functions."""
    return type("FakePlugin", (), {name: staticmethod(fn) for name, fn in hooks.items()})


def tuners(*names: str, aliases: tuple[str, ...] = ()):
    @hookimpl
    def tk_register_tuners(register):
        for name in names:
            register(TunerSpec(name=name, summary=f"{name} tuner", factory="x.y:z", aliases=aliases))

    return plugin(tk_register_tuners=tk_register_tuners)


def reward(name: str):
    def tk_register_rewards(register):
        register(RewardSpec(name=name, summary="a reward", factory=lambda args: len))

    return plugin(tk_register_rewards=tk_register_rewards)


def status(host: PluginHost, name: str) -> PluginInfo:
    host.failed()
    (info,) = [p for p in host.plugins if p.name == name]
    return info


# -- names -------------------------------------------------------------------------


def test_registered_component_is_found_with_its_distribution(tk_plugins) -> None:
    host = tk_plugins.add(tuners("adalora"), name="x", distribution="dist-x")
    entry = host.registry("tuners").entry("adalora")
    assert (entry.spec.summary, entry.plugin, entry.distribution) == ("adalora tuner", "x", "dist-x")
    assert "adalora" in host.registry("tuners").names()
    assert status(host, "x").registered == {"tuners": ["adalora"]}


def test_builtins_register_through_the_same_hooks(tk_plugins) -> None:
    host = tk_plugins.host
    assert host.registry("tuners").entry("full").distribution == "tunekite"
    assert {"sft", "pt"} <= set(host.registry("trainers").names())


def test_duplicate_name_fails_only_its_own_lookups_naming_both(tk_plugins) -> None:
    tk_plugins.add(tuners("adalora"), name="a", distribution="dist-a")
    host = tk_plugins.add(tuners("adalora"), name="b", distribution="dist-b")
    expected = r"tuner 'adalora' is registered by both dist-a .* and dist-b"
    with pytest.raises(DuplicateNameError, match=expected):
        host.registry("tuners").get("adalora")
    assert host.registry("tuners").get("full").name == "full"
    assert [c for c in host.registry("tuners").conflicts if "dist-b" in c]


def test_plugin_reusing_a_builtin_name_is_ignored_with_a_warning(tk_plugins) -> None:
    host = tk_plugins.add(tuners("full", "adalora"), name="evil", distribution="dist-evil")
    assert host.registry("tuners").entry("full").distribution == "tunekite"
    (warning,) = host.warnings()
    assert "tuner 'full' of dist-evil" in warning and "core's built-in tuner 'full' wins" in warning
    assert host.registry("tuners").get("full").summary.startswith("Train every")
    assert host.registry("tuners").conflicts == []


def test_duplicate_name_leaves_other_kinds_usable(tk_plugins) -> None:
    tk_plugins.add(tuners("adalora"), name="a", distribution="dist-a")
    host = tk_plugins.add(tuners("adalora"), name="b", distribution="dist-b")
    assert host.registry("trainers").get("sft").name == "sft"


def test_alias_clashing_with_a_name_is_a_duplicate(tk_plugins) -> None:
    tk_plugins.add(tuners("adalora"), name="a", distribution="dist-a")
    host = tk_plugins.add(tuners("other", aliases=("adalora",)), name="b", distribution="dist-b")
    with pytest.raises(DuplicateNameError, match="'adalora' is registered by both dist-a"):
        host.registry("tuners").get("other")


def test_aliases_resolve_to_the_spec(tk_plugins) -> None:
    host = tk_plugins.add(tuners("adalora", aliases=("ada", "ada-lora")), name="x")
    registry = host.registry("tuners")
    assert registry.get("ada") is registry.get("adalora") is registry.get("ada-lora")
    assert "ada" in registry
    assert registry.names().count("adalora") == 1


def test_unknown_name_suggests_and_lists_installed(tk_plugins) -> None:
    host = tk_plugins.add(tuners("adalora"), name="x", distribution="dist-x")
    with pytest.raises(UnknownNameError) as info:
        host.registry("tuners").get("adalor")
    message = str(info.value)
    assert message.startswith("Unknown tuner 'adalor'. Did you mean 'adalora'?")
    assert "Installed tuners: adalora (dist-x), full (tunekite)." in message


def test_unknown_name_in_empty_kind(tk_plugins) -> None:
    with pytest.raises(UnknownNameError, match="No quantizers are installed"):
        tk_plugins.host.registry("quantizers").get("gptq")  # core registers none


def test_unknown_catalog_name_says_what_to_install(tk_plugins) -> None:
    expected = r"'lora' is provided by tunekite-lora: pip install tunekite-lora"
    with pytest.raises(UnknownNameError, match=expected):
        tk_plugins.host.registry("tuners").get("lora")


def test_unknown_kind_suggests_closest(tk_plugins) -> None:
    with pytest.raises(PluginError, match=r"Unknown component kind 'tuner'\. Did you mean 'tuners'\?"):
        tk_plugins.host.registry("tuner")


def test_registries_are_built_once_and_rebuilt_after_add(tk_plugins) -> None:
    calls = []

    def tk_register_templates(register):
        calls.append(1)
        fmt = ChatFormat(name="chatml", user="", assistant_header="", assistant_end="")
        register(TemplateSpec(format=fmt, summary="chatml", factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_templates=tk_register_templates), name="t")
    host.registry("templates")
    host.registry("tuners")
    assert len(calls) == 1
    tk_plugins.add(tuners("adalora"), name="x")
    assert "adalora" in host.registry("tuners")
    assert "chatml" in host.registry("templates")


def test_undecorated_hook_functions_are_accepted(tk_plugins) -> None:
    host = tk_plugins.add(reward("len"), name="r")
    assert host.registry("rewards").get("len").load()(None)("abc") == 3


def test_a_module_is_accepted_as_a_plugin(tk_plugins) -> None:
    """A module is the usual plugin object (an entry point names one): its hooks register."""
    module = ModuleType("tunekite_fake_module")
    module.tk_register_tuners = tuners("adalora").tk_register_tuners
    host = tk_plugins.add(module, name="mod")
    assert host.registry("tuners").entry("adalora").plugin == "mod"
    assert status(host, "mod").registered == {"tuners": ["adalora"]}


def test_unhashable_plugin_is_rejected_without_breaking_others(tk_plugins) -> None:
    fake = SimpleNamespace(tk_register_rewards=reward("len").tk_register_rewards)
    with pytest.raises(PluginError, match="SimpleNamespace, which is unhashable"):
        tk_plugins.add(fake, name="ns")
    assert "sft" in tk_plugins.host.registry("trainers")
    assert "len" not in tk_plugins.host.registry("rewards")


# -- broken plugins ----------------------------------------------------------------


def test_wrong_spec_type_fails_that_plugin_only(tk_plugins) -> None:
    def tk_register_tuners(register):
        register(TunerSpec(name="good", summary="registered before the bad one", factory="a:b"))
        register(RewardSpec(name="bad", summary="wrong kind", factory="a:b"))

    tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners), name="wrong", distribution="dist-wrong")
    host = tk_plugins.add(reward("len"), name="ok")
    assert "good" not in host.registry("tuners")
    assert "len" in host.registry("rewards")
    info = status(host, "wrong")
    assert info.status == "failed"
    assert "tk_register_tuners got RewardSpec; register a TunerSpec" in info.error
    assert [p.name for p in host.failed()] == ["wrong"]


def test_raising_hook_is_reported_and_others_work(tk_plugins) -> None:
    def tk_register_rewards(register):
        raise RuntimeError("boom")

    tk_plugins.add(plugin(tk_register_rewards=tk_register_rewards), name="broken", distribution="dist-broken")
    host = tk_plugins.add(tuners("adalora"), name="ok")
    assert "adalora" in host.registry("tuners")
    info = status(host, "broken")
    assert (info.status, info.error) == ("failed", "RuntimeError: boom")


def test_unknown_name_mentions_failed_plugins(tk_plugins) -> None:
    def tk_register_tuners(register):
        raise ImportError("no module named peft")

    host = tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners), name="broken", distribution="dist-b")
    expected = r"Plugins that failed to load: broken \(dist-b\); see `tk plugins`"
    with pytest.raises(UnknownNameError, match=expected):
        host.registry("tuners").get("adalora")


def test_invalid_spec_in_hook_fails_the_plugin(tk_plugins) -> None:
    def tk_register_tuners(register):
        register(TunerSpec(name="Bad Name", summary="s", factory="a:b"))

    host = tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners), name="invalid")
    assert "must be lower-case" in status(host, "invalid").error


def test_strict_mode_makes_a_failing_plugin_fatal() -> None:
    def tk_register_tuners(register):
        raise RuntimeError("boom")

    host = PluginHost(env={"TUNEKITE_STRICT_PLUGINS": "1"}, autoload=False)
    host.add_plugin(plugin(tk_register_tuners=tk_register_tuners), PluginInfo("bad", "test", "dist-bad"))
    with pytest.raises(PluginError, match=r"Plugin 'bad' from dist-bad failed to load: RuntimeError: boom"):
        host.registry("tuners")


def test_unknown_hook_name_is_rejected(tk_plugins) -> None:
    def tk_register_tuner(register):
        pass

    expected = r"(?i)unknown hook.*tk_register_tuner\b.*did you mean tk_register_tuners"
    with pytest.raises(PluginError, match=expected):
        tk_plugins.add(plugin(tk_register_tuner=tk_register_tuner), name="typo")
    assert "full" in tk_plugins.host.registry("tuners")


def test_wrong_hook_signature_is_a_plugin_error(tk_plugins) -> None:
    def tk_register_tuners(reg):
        pass

    with pytest.raises(PluginError, match="tk_register_tuners"):
        tk_plugins.add(plugin(tk_register_tuners=tk_register_tuners), name="sig")


def test_fake_plugins_fixture_swaps_the_process_host(tk_plugins) -> None:
    from tunekite.plugin_host import get_host

    assert get_host() is tk_plugins.host


# -- spec validation ---------------------------------------------------------------


@dataclass(kw_only=True)
class GoodArgs:
    rank: int = arg(8, help="rank")


@dataclass
class PlainArgs:
    rank: int = 8


@pytest.mark.parametrize("name", ["Lora", "", "lo ra", "-lora", "lora/x", "ló"])
def test_spec_rejects_bad_names(name: str) -> None:
    with pytest.raises(ValueError, match="must be lower-case"):
        TunerSpec(name=name, summary="s", factory="a:b")


def test_spec_rejects_bad_alias() -> None:
    with pytest.raises(ValueError, match=r"name 'Ada' must be lower-case"):
        TunerSpec(name="ada", summary="s", factory="a:b", aliases=("Ada",))


@pytest.mark.parametrize("name", ["lora", "pissa_niter_4", "qwen2.5", "self-cognition", "0x"])
def test_spec_accepts_good_names(name: str) -> None:
    assert TunerSpec(name=name, summary="s", factory="a:b").name == name


@pytest.mark.parametrize("field", ["name", "factory"])
def test_spec_rejects_trailing_newline(field: str) -> None:
    kwargs = {"name": "lora", "summary": "s", "factory": "a:b"}
    kwargs[field] += "\n"
    with pytest.raises(ValueError):
        TunerSpec(**kwargs)


@pytest.mark.parametrize("summary", ["", "first\nsecond"])
def test_spec_rejects_bad_summary(summary: str) -> None:
    with pytest.raises(ValueError, match="summary must be one non-empty line"):
        TunerSpec(name="x", summary=summary, factory="a:b")


def test_spec_rejects_blank_summary() -> None:
    with pytest.raises(ValueError, match="summary must be one non-empty line"):
        TunerSpec(name="x", summary="   ", factory="a:b")


@pytest.mark.parametrize("factory", ["module", "module:", ":attr", "a b:c", "pkg.mod:attr()", 42])
def test_spec_rejects_bad_factory(factory: object) -> None:
    with pytest.raises(ValueError, match="factory"):
        TunerSpec(name="x", summary="s", factory=factory)


def test_spec_rejects_args_without_arg_declarations() -> None:
    with pytest.raises(ValueError, match=r"tuner 'x': arguments .*PlainArgs.rank was not declared with arg"):
        TunerSpec(name="x", summary="s", factory="a:b", args=PlainArgs)


def test_spec_rejects_args_that_is_not_a_dataclass() -> None:
    with pytest.raises(ValueError, match="not a dataclass"):
        TunerSpec(name="x", summary="s", factory="a:b", args=dict)


def test_spec_is_frozen() -> None:
    spec = TunerSpec(name="x", summary="s", factory="a:b")
    with pytest.raises(AttributeError):
        spec.name = "y"  # type: ignore[misc]


def test_spec_factory_import_path_resolves_lazily() -> None:
    spec = TaskSpec(name="x", summary="s", factory="tunekite.registrations:TaskSpec.load")
    assert spec.load() is TaskSpec.load
    missing = TaskSpec(name="y", summary="s", factory="tunekite_no_such_module:run")
    with pytest.raises(ModuleNotFoundError):
        missing.load()


def test_spec_default_args() -> None:
    assert TunerSpec(name="x", summary="s", factory="a:b", args=GoodArgs).default_args() == GoodArgs()
    assert TunerSpec(name="x", summary="s", factory="a:b").default_args() is None


@pytest.mark.parametrize(
    ("declared", "expected"), [(None, (1,)), (2, (2,)), ((1, 2), (1, 2)), ("1", (1,)), ("one", ())]
)
def test_declared_api_versions(declared, expected) -> None:
    from tunekite.plugin_host import declared_api

    plugin = type("P", (), {} if declared is None else {"TUNEKITE_API": declared})
    assert declared_api(plugin) == expected
