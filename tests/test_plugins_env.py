"""The plugin host with real entry points, its environment switches, and local plugin files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types
from pathlib import Path

import pytest

from tunekite import entry_points
from tunekite.errors import PluginError, UnknownNameError
from tunekite.plugin_host import CUSTOM_PATH_ENV, PluginHost

TEMPLATE_PLUGIN = """
from tunekite.api import ChatFormat, TemplateSpec, hookimpl

@hookimpl
def tk_register_templates(register):
    fmt = ChatFormat(name="{name}", user="", assistant_header="", assistant_end="")
    register(TemplateSpec(format=fmt, summary="a local template", factory="a:b"))
"""


def template_file(folder: Path, name: str, stem: str = "my_plugin", body: str = TEMPLATE_PLUGIN) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stem}.py"
    path.write_text(textwrap.dedent(body.format(name=name)), encoding="utf-8")
    return path


def by_name(host: PluginHost) -> dict[str, str]:
    return {p.name: p.status for p in host.plugins}


# -- installed entry points and switches -------------------------------------------


def test_installed_plugins_load_with_their_distributions() -> None:
    host = PluginHost(env={})
    assert host.registry("tuners").entry("lora").distribution == "tunekite-lora"
    assert host.registry("rewards").entry("keyword").distribution == "tunekite-keyword-reward"
    lora = next(p for p in host.plugins if p.name == "lora")
    assert (lora.source, lora.status, lora.registered) == ("entry point", "loaded", {"tuners": ["lora"]})
    assert lora.version


def test_tunekite_plugins_limits_loading() -> None:
    host = PluginHost(env={"TUNEKITE_PLUGINS": "lora"})
    statuses = by_name(host)
    assert statuses.pop("builtins") == statuses.pop("lora") == "loaded"
    assert set(statuses.values()) == {"disabled"} and "keyword-reward" in statuses
    disabled = next(p for p in host.plugins if p.name == "keyword-reward")
    assert disabled.error == "not in TUNEKITE_PLUGINS"
    assert "lora" in host.registry("tuners")
    assert "keyword" not in host.registry("rewards")


@pytest.mark.parametrize(
    "spelling", ["tunekite-keyword-reward", "tunekite_keyword_reward", " Keyword_Reward "]
)
def test_tunekite_plugins_accepts_distribution_spellings(spelling: str) -> None:
    host = PluginHost(env={"TUNEKITE_PLUGINS": f"{spelling},"})
    assert by_name(host)["keyword-reward"] == "loaded"
    assert by_name(host)["lora"] == "disabled"


def test_disabled_catalog_plugin_is_explained() -> None:
    host = PluginHost(env={"TUNEKITE_PLUGINS": "keyword-reward"})
    expected = r"tunekite-lora, installed but not loaded \(not in TUNEKITE_PLUGINS\)"
    with pytest.raises(UnknownNameError, match=expected):
        host.registry("tuners").get("lora")


def test_disable_autoload_loads_only_builtins() -> None:
    host = PluginHost(env={"TUNEKITE_DISABLE_PLUGIN_AUTOLOAD": "1"})
    assert [p.name for p in host.plugins] == ["builtins"]
    assert host.registry("tuners").names() == ["full"]


def test_trace_prints_loads_and_hook_calls(capsys) -> None:
    host = PluginHost(env={"TUNEKITE_TRACE_PLUGINS": "1"})
    host.registry("tuners")
    err = capsys.readouterr().err
    assert "tunekite: loaded plugin builtins (tunekite)" in err
    assert "tunekite: loaded plugin lora (tunekite-lora)" in err
    assert "tk_register_tuners [hook]" in err


def test_no_trace_by_default(capsys) -> None:
    PluginHost(env={}).registry("tuners")
    assert capsys.readouterr().err == ""


# -- entry points that fail ---------------------------------------------------------


def fake_entry_points(monkeypatch: pytest.MonkeyPatch, **plugins: types.ModuleType | None) -> None:
    """Replace installed entry points with `name=module` (None: a module that cannot be imported)."""
    eps = []
    for name, module in plugins.items():
        target = f"tk_test_ep_{name}"
        if module is not None:
            monkeypatch.setitem(sys.modules, target, module)
        eps.append(entry_points.InstalledEntryPoint(name, target, f"dist-{name}", "1.0"))
    monkeypatch.setattr(entry_points, "installed", lambda: eps)


def module_with(**attrs) -> types.ModuleType:
    module = types.ModuleType("fake")
    module.__dict__.update(attrs)
    return module


def test_entry_point_that_fails_to_import_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunekite.registrations import RewardSpec

    def tk_register_rewards(register):
        register(RewardSpec(name="ok", summary="fine", factory="a:b"))

    fake_entry_points(monkeypatch, broken=None, fine=module_with(tk_register_rewards=tk_register_rewards))
    host = PluginHost(env={})
    broken = next(p for p in host.plugins if p.name == "broken")
    assert broken.status == "failed"
    assert broken.error.startswith("ModuleNotFoundError")
    assert "ok" in host.registry("rewards")


def test_entry_point_with_unknown_hook_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, typo=module_with(tk_register_template=lambda register: None))
    host = PluginHost(env={})
    assert by_name(host)["typo"] == "failed"
    assert "tk_register_templates" in next(p.error for p in host.plugins if p.name == "typo")


def test_strict_entry_point_failure_is_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_entry_points(monkeypatch, broken=None)
    with pytest.raises(PluginError, match=r"Plugin 'broken' from dist-broken failed to load"):
        PluginHost(env={"TUNEKITE_STRICT_PLUGINS": "true"})


def test_entry_point_with_wrong_hook_signature_does_not_brick_the_host(monkeypatch) -> None:
    fake_entry_points(monkeypatch, badsig=module_with(tk_register_tuners=lambda reg: None))
    host = PluginHost(env={})
    assert by_name(host)["badsig"] == "failed"


# -- local plugin files -------------------------------------------------------------


def test_add_file_registers_its_components(tmp_path: Path) -> None:
    path = template_file(tmp_path, "mytpl")
    host = PluginHost(env={}, autoload=False)
    host.add_file(path)
    entry = host.registry("templates").entry("mytpl")
    assert entry.plugin == "my_plugin"
    info = next(p for p in host.plugins if p.source == "file")
    assert (info.location, info.registered) == (str(path.resolve()), {"templates": ["mytpl"]})


def test_add_file_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = template_file(tmp_path, "mytpl")
    host = PluginHost(env={}, autoload=False)
    host.add_file(path)
    monkeypatch.chdir(tmp_path)
    host.add_file("my_plugin.py")
    host.add_file(str(path))
    assert host.custom_paths == [str(path.resolve())]
    assert [p.source for p in host.plugins].count("file") == 1
    assert host.registry("templates").names() == ["default", "jinja", "mytpl"]  # core's two, then the file's


def test_same_stem_in_two_folders_both_load(tmp_path: Path) -> None:
    first = template_file(tmp_path / "a", "tpl-a", stem="plugin")
    second = template_file(tmp_path / "b", "tpl-b", stem="plugin")
    host = PluginHost(env={}, autoload=False)
    host.add_file(first)
    host.add_file(second)
    assert host.registry("templates").names() == ["default", "jinja", "tpl-a", "tpl-b"]
    assert "plugin" not in sys.modules


def test_add_file_touches_sys_path_only_during_import(tmp_path: Path) -> None:
    (tmp_path / "tk_test_sibling_helper.py").write_text("NAME = 'from-helper'\n", encoding="utf-8")
    body = TEMPLATE_PLUGIN.replace('name="{name}"', "name=tk_test_sibling_helper.NAME")
    path = template_file(tmp_path, "", body="import tk_test_sibling_helper\n" + body)
    before = list(sys.path)
    host = PluginHost(env={}, autoload=False)
    try:
        host.add_file(path)
    finally:
        sys.modules.pop("tk_test_sibling_helper", None)
    assert sys.path == before
    assert "from-helper" in host.registry("templates")


def test_add_file_rejects_unknown_hook_name(tmp_path: Path) -> None:
    body = TEMPLATE_PLUGIN.replace("def tk_register_templates", "def tk_register_template")
    path = template_file(tmp_path, "mytpl", body=body)
    host = PluginHost(env={}, autoload=False)
    expected = r"(?si)my_plugin.py.*tk_register_template\b.*did you mean tk_register_templates"
    with pytest.raises(PluginError, match=expected):
        host.add_file(path)
    assert host.custom_paths == []
    assert "mytpl" not in host.registry("templates")


def test_add_file_missing(tmp_path: Path) -> None:
    with pytest.raises(PluginError, match=r"no such file: .*missing.py"):
        PluginHost(env={}, autoload=False).add_file(tmp_path / "missing.py")


def test_add_file_not_python(tmp_path: Path) -> None:
    path = tmp_path / "plugin.txt"
    path.write_text("x = 1\n", encoding="utf-8")
    with pytest.raises(PluginError, match=r"plugin.txt is not a .py file"):
        PluginHost(env={}, autoload=False).add_file(path)


def test_add_file_import_error_names_the_path(tmp_path: Path) -> None:
    path = template_file(tmp_path, "x", body="raise RuntimeError('bad plugin')\n")
    host = PluginHost(env={}, autoload=False)
    with pytest.raises(PluginError, match=r"importing .*my_plugin.py failed: RuntimeError: bad plugin"):
        host.add_file(path)
    template_file(tmp_path, "fixed")  # the user fixes the file and retries in the same process
    host.add_file(path)
    assert "fixed" in host.registry("templates")


def test_worker_env_hands_local_plugins_to_a_fresh_host(tmp_path: Path) -> None:
    first, second = template_file(tmp_path / "a", "tpl-a"), template_file(tmp_path / "b", "tpl-b")
    host = PluginHost(env={}, autoload=False)
    assert host.worker_env() == {}
    host.add_file(first)
    host.add_file(second)
    env = host.worker_env()
    assert set(env) == {CUSTOM_PATH_ENV}
    worker = PluginHost(env=env)
    assert {"tpl-a", "tpl-b"} <= set(worker.registry("templates").names())
    assert worker.custom_paths == host.custom_paths


# -- staying light -------------------------------------------------------------------


def test_loading_every_plugin_and_resolving_imports_no_torch() -> None:
    code = textwrap.dedent(
        """
        import sys
        from tunekite.plugin_host import PluginHost
        from tunekite.api import resolve
        from tunekite.registrations import KINDS
        host = PluginHost(env={})
        for kind in KINDS:
            list(host.registry(kind))
        resolve("sft", ["--tuner", "lora", "--lora_rank", "4"], host)
        heavy = sorted(m for m in ("torch", "transformers", "peft") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_empty_tunekite_plugins_means_no_filter() -> None:
    host = PluginHost(env={"TUNEKITE_PLUGINS": "  "})
    assert set(by_name(host).values()) == {"loaded"}
    assert {"builtins", "keyword-reward", "lora"} <= set(by_name(host))


# -- the entry-point cache ------------------------------------------------------------

LISTING = (
    "import json; from tunekite import entry_points; "
    "print(json.dumps([e.name for e in entry_points.installed()]))"
)


def _listing(env: dict[str, str]) -> subprocess.CompletedProcess:
    code = LISTING + "; import sys; print('importlib.metadata' in sys.modules)"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_entry_point_cache_is_used_and_follows_installs(tmp_path: Path) -> None:
    import json
    import os

    site = tmp_path / "site"
    site.mkdir()
    env = {**os.environ, "TUNEKITE_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(site)}
    first = _listing(env)
    assert first.returncode == 0, first.stderr
    names, scanned = first.stdout.splitlines()
    assert "lora" in json.loads(names) and scanned == "True"
    again = _listing(env).stdout.splitlines()
    assert again == [names, "False"], "the second start should not scan (or import importlib.metadata)"
    info = site / "tunekite_late-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tunekite-late\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[tunekite]\nlate = tunekite_late\n")
    after = _listing(env).stdout.splitlines()
    assert "late" in json.loads(after[0]) and after[1] == "True"


def test_entry_point_load_resolves_attributes() -> None:
    ep = entry_points.InstalledEntryPoint("x", "os.path:join", None, None)
    import os.path

    assert ep.load() is os.path.join
