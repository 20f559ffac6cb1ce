"""A broken or conflicting installed plugin is reported without bricking the CLI."""

from __future__ import annotations

import json

BROKEN = """
raise ImportError("boom: missing dependency of the broken plugin")
"""

TEMPLATE = """
from tunekite.api import TemplateSpec, hookimpl

@hookimpl
def tk_register_templates(register):
    register(TemplateSpec(name="dup", summary="a template", factory="builtins:dict"))
"""


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
    result = tk("list", "templates", env=env)
    assert result.returncode != 0
    assert "tunekite-first" in result.stderr and "tunekite-second" in result.stderr
    assert "'dup'" in result.stderr
    listing = tk("plugins", "--json", env=env)
    assert listing.returncode == 0
    (conflict,) = json.loads(listing.stdout)["conflicts"]
    assert "tunekite-first" in conflict and "tunekite-second" in conflict


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
