"""A broken or conflicting installed plugin is reported without bricking the CLI."""

from __future__ import annotations

import json

BROKEN = """
raise ImportError("boom: missing dependency of the broken plugin")
"""



def registering(spec: str, name: str, header: str = "") -> str:
    """The source of a plugin module registering one `spec` (TemplateSpec or TunerSpec)."""
    kind = {"TemplateSpec": "templates", "TunerSpec": "tuners"}[spec]
    # a template's name is its format's
    named = (
        f'format=ChatFormat(name="{name}", user="", assistant_header="", assistant_end="")'
        if spec == "TemplateSpec"
        else f'name="{name}"'
    )
    return f"""
from tunekite.api import ChatFormat, {spec}, hookimpl
{header}
@hookimpl
def tk_register_{kind}(register):
    register({spec}({named}, summary="a {kind[:-1]}", factory="builtins:dict"))
"""


TEMPLATE = registering("TemplateSpec", "dup")


def test_broken_plugin_is_reported_and_the_rest_work(tk, site) -> None:
    env = site("tunekite-broken", "tunekite_broken", BROKEN)
    listing = tk("plugins", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    plugins = {p["distribution"]: p for p in json.loads(listing.stdout)["plugins"]}
    assert plugins["tunekite-broken"]["status"] == "failed"
    assert "boom" in plugins["tunekite-broken"]["error"]
    assert plugins["tunekite-broken"]["version"] == "0.1"
    assert plugins["tunekite-lora"]["status"] == "loaded"
    table = tk("plugins", env=env)
    assert table.returncode == 0 and "tunekite-broken" in table.stdout and "boom" in table.stdout
    tuners = tk("list", "tuners", env=env)
    assert tuners.returncode == 0 and "lora" in tuners.stdout
    assert tk("--help", env=env).returncode == 0


def test_strict_mode_makes_a_broken_plugin_fatal(tk, site) -> None:
    env = {**site("tunekite-broken", "tunekite_broken", BROKEN), "TUNEKITE_STRICT_PLUGINS": "1"}
    result = tk("plugins", env=env)
    assert result.returncode != 0
    assert "tunekite-broken" in result.stderr and "boom" in result.stderr


def test_two_plugins_registering_one_name_fail_naming_both(tk, site) -> None:
    site("tunekite-first", "tunekite_first", TEMPLATE)
    env = site("tunekite-second", "tunekite_second", TEMPLATE)
    result = tk("run", "sft", "--template", "dup", "--help", env=env)
    assert result.returncode != 0
    assert "tunekite-first" in result.stderr and "tunekite-second" in result.stderr
    assert "'dup'" in result.stderr
    assert tk("run", "sft", "--tuner", "lora", "--help", env=env).returncode == 0
    listing = tk("plugins", "--json", env=env)
    assert listing.returncode == 0
    (conflict,) = json.loads(listing.stdout)["conflicts"]
    assert "tunekite-first" in conflict and "tunekite-second" in conflict


SHADOW = registering("TunerSpec", "full")


def test_a_plugin_reusing_a_builtin_name_leaves_every_run_working(tk, site) -> None:
    env = site("tunekite-shadow", "tunekite_shadow", SHADOW)
    for args in (["sft", "--tuner", "full"], ["sft", "--tuner", "lora"], ["infer"]):
        result = tk("run", *args, "--help", env=env)
        assert result.returncode == 0, result.stderr
        assert "tuner 'full' of tunekite-shadow" in result.stderr
        assert "core's built-in tuner 'full' wins" in result.stderr
    listing = json.loads(tk("plugins", "--json", env=env).stdout)
    assert any("tunekite-shadow" in w for w in listing["warnings"])


OTHER_API = registering("TunerSpec", "future-tuner", header="TUNEKITE_API = 99")


def test_a_plugin_built_for_another_api_is_named_where_it_would_be_used(tk, site) -> None:
    env = site("tunekite-future", "tunekite_future", OTHER_API)
    listing = json.loads(tk("plugins", "--json", env=env).stdout)["plugins"]
    (future,) = [p for p in listing if p["distribution"] == "tunekite-future"]
    assert future["status"] == "incompatible"
    assert future["error"].startswith("built for API 99, core has 1")
    assert future["registered"] == {"tuners": ["future-tuner"]}
    result = tk("run", "sft", "--tuner", "future-tuner", "--help", env=env)
    assert result.returncode == 2
    assert "'future-tuner' is provided by tunekite-future 0.1" in result.stderr
    assert "built for API 99, core has 1" in result.stderr
    strict = tk("plugins", env={**env, "TUNEKITE_STRICT_PLUGINS": "1"})
    assert strict.returncode != 0 and "built for API 99" in strict.stderr


def test_two_distributions_with_one_entry_point_name_are_reported(tk, site) -> None:
    site("tunekite-first", "samename", TEMPLATE)
    env = site("tunekite-second", "samename", TEMPLATE)
    listing = json.loads(tk("plugins", "--json", env=env).stdout)["plugins"]
    both = [p for p in listing if p["name"] == "samename"]
    assert {p["distribution"] for p in both} == {"tunekite-first", "tunekite-second"}
    for plugin in both:
        assert plugin["status"] == "failed"
        assert "'samename' is declared by both tunekite-first 0.1 and tunekite-second 0.1" in plugin["error"]


def test_tunekite_plugins_limits_what_loads(tk, site) -> None:
    env = {**site("tunekite-broken", "tunekite_broken", BROKEN), "TUNEKITE_PLUGINS": "lora"}
    listing = json.loads(tk("plugins", "--json", env=env).stdout)["plugins"]
    status = {p["distribution"]: p["status"] for p in listing}
    assert status["tunekite-lora"] == "loaded"
    assert status["tunekite-broken"] == "disabled"
    assert status["tunekite-keyword-reward"] == "disabled"
    without_lora = tk("run", "sft", "--help", env={"TUNEKITE_PLUGINS": "keyword-reward"})
    assert without_lora.returncode == 2
    assert "tunekite-lora, installed but not loaded" in without_lora.stderr
