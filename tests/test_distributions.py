"""Every distribution in the repository is installed, discovered and well-behaved."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

from tunekite import catalog

ROOT = Path(__file__).resolve().parents[1]
PYPROJECTS = [*ROOT.glob("plugins/*/*/pyproject.toml"), *ROOT.glob("examples/plugins/*/pyproject.toml")]
PLUGIN_DIRS = sorted(p.parent for p in PYPROJECTS)
PUBLIC = {"tunekite", "tunekite.api", "tunekite.testing"}


def _project(folder: Path) -> dict:
    return tomllib.loads((folder / "pyproject.toml").read_text())["project"]


def test_each_plugin_is_a_complete_distribution() -> None:
    assert PLUGIN_DIRS, "no plugin distributions found"
    for folder in PLUGIN_DIRS:
        project = _project(folder)
        assert project["name"].startswith("tunekite-"), folder
        assert project.get("entry-points", {}).get("tunekite"), f"{folder}: no tunekite entry point"
        assert any(d.startswith("tunekite") for d in project["dependencies"]), folder
        assert list((folder / "tests").glob("test_*.py")), f"{folder}: no tests of its own"


def test_every_plugin_is_discovered_through_its_entry_point(tk) -> None:
    listing = json.loads(tk("plugins", "--json").stdout)["plugins"]
    loaded = {p["distribution"]: p for p in listing if p["source"] == "entry point"}
    for folder in PLUGIN_DIRS:
        name = _project(folder)["name"]
        assert loaded[name]["status"] == "loaded", loaded.get(name)
        assert loaded[name]["registered"], f"{name} registered nothing"


def test_catalog_matches_what_plugins_register(tk) -> None:
    listing = json.loads(tk("plugins", "--json").stdout)["plugins"]
    registered = {p["distribution"]: p["registered"] for p in listing}
    for kind, names in catalog.PROVIDERS.items():
        for name, dist in names.items():
            assert name in registered[dist].get(kind, []), f"catalog says {dist} provides {kind} {name}"
    first_party = [_project(folder)["name"] for folder in PLUGIN_DIRS if folder.parts[-3] == "plugins"]
    for dist in first_party:
        for kind, names in registered[dist].items():
            for name in names:
                owner = catalog.PROVIDERS.get(kind, {}).get(name)
                assert owner == dist, f"catalog lacks {dist}'s {kind} {name}"


def test_plugins_import_only_the_public_api() -> None:
    for folder in PLUGIN_DIRS:
        for source in folder.rglob("*.py"):
            tree = ast.parse(source.read_text(), filename=str(source))
            for node in ast.walk(tree):
                modules = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    modules = [node.module]
                elif isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                for module in modules:
                    if module.split(".")[0] == "tunekite":
                        assert module in PUBLIC, f"{source}: imports core internal {module}"
                    own = _project(folder)["name"].replace("-", "_")
                    if module.startswith("tunekite_"):
                        assert module.split(".")[0] == own, f"{source}: imports another plugin {module}"


def test_list_without_kind_counts_each_kind(tk) -> None:
    result = tk("list")
    assert result.returncode == 0, result.stderr
    rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in result.stdout.splitlines()
            if line.count("│") == 3}
    assert rows["tuners"] == "21" and rows["trainers"] == "11" and rows["rewards"] == "7"
    assert rows["templates"] == "41" and rows["models"] == "30"  # 27 ms-swift model types
    assert set(rows) >= {"models", "templates", "engines", "datasets", "exporters", "loss_scales", "tasks"}
