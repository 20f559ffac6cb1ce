"""The import-layer contract (`tools/check_layers.py`, run by `make lint`): the tree keeps
it, and a back-edge or a cycle added to a copy of the tree makes it fail."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _checker():
    spec = importlib.util.spec_from_file_location("check_layers", ROOT / "tools" / "check_layers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_layers = _checker()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of core's `tunekite` package to break."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(ROOT / "core" / "tunekite", tmp_path / "tunekite", ignore=ignore)
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_tree_keeps_the_layers() -> None:
    assert check_layers.check(ROOT / "core") == []


def test_make_lint_runs_the_check() -> None:
    lint = (ROOT / "Makefile").read_text(encoding="utf-8").split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "tools/check_layers.py" in lint


def test_a_back_edge_fails(tree: Path) -> None:
    _append(tree / "tunekite" / "templates" / "format.py", "\nfrom tunekite.plugin_host import get_host\n")
    problems = check_layers.check(tree)
    assert any(
        "tunekite.templates.format (data types and engines) imports tunekite.plugin_host (plugin host)" in p
        for p in problems
    ), problems
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "check_layers.py"), str(tree)], capture_output=True, text=True
    )
    assert result.returncode == 1 and "a layer above it" in result.stdout


def test_a_function_level_back_edge_fails_too(tree: Path) -> None:
    _append(tree / "tunekite" / "plugin_host.py", "\n\ndef _late():\n    from tunekite import builtins\n")
    problems = check_layers.check(tree)
    expected = "tunekite.plugin_host (plugin host) imports tunekite.builtins"
    assert any(expected in p for p in problems), problems


def test_the_process_wide_host_below_the_top_layer_fails(tree: Path) -> None:
    _append(tree / "tunekite" / "models" / "resolve.py", "\nfrom tunekite.plugin_host import get_host\n")
    problems = check_layers.check(tree)
    assert any("tunekite.models.resolve imports the process-wide get_host" in p for p in problems), problems


def test_type_checking_imports_are_not_dependencies(tree: Path) -> None:
    _append(
        tree / "tunekite" / "templates" / "format.py",
        "\nfrom typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from tunekite.launcher import Run\n",
    )
    assert check_layers.check(tree) == []


def test_a_cycle_inside_one_layer_fails(tree: Path) -> None:
    _append(tree / "tunekite" / "templates" / "format.py", "\nimport tunekite.templates.encoder\n")
    problems = check_layers.check(tree)
    assert any(p.startswith("import cycle:") and "tunekite.templates.format" in p for p in problems), problems


@pytest.mark.parametrize(
    "module",
    ["tunekite.templates.format", "tunekite.registrations", "tunekite.plugin_host", "tunekite.launcher"],
)
def test_light_modules_import_alone(module: str) -> None:
    """Each imports by itself in a fresh interpreter (no cycle needing another import first),
    and pulls in no heavy library."""
    code = f"import sys, {module}; assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
