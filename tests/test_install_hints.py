"""A missing library is one line naming the extra or plugin that brings it.

The install table (`tunekite.catalog.INSTALLS`) is checked against core's extras and the
plugins' `TUNEKITE_REQUIRES`; each command is run in this process with one library made
unimportable (`sys.modules[name] = None`, which is what `import` of an absent module
raises on).
"""

from __future__ import annotations

import importlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from tunekite import catalog

ROOT = Path(__file__).resolve().parents[1]


def _requirement_name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0]


def test_every_library_of_core_extras_names_its_extra() -> None:
    extras = tomllib.loads((ROOT / "core/pyproject.toml").read_text())["project"]["optional-dependencies"]
    for extra in ("train", "serve"):
        for requirement in extras[extra]:
            module = _requirement_name(requirement)
            assert catalog.INSTALLS[module] == f"'tunekite[{extra}]'", module
            assert catalog.install_hint(f"{module}.sub") == f"pip install 'tunekite[{extra}]'"
    assert catalog.install_hint("no_such_library") is None


def test_every_plugin_requirement_has_install_advice() -> None:
    for pyproject in ROOT.glob("plugins/*/*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        for target in project["entry-points"]["tunekite"].values():
            requires = getattr(importlib.import_module(target.partition(":")[0]), "TUNEKITE_REQUIRES", ())
            for module in requires:
                assert catalog.install_hint(module), f"{project['name']}: no install advice for {module}"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tunekite.testing.models import save_tiny_chat_model

    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "model")


def without(tmp_path: Path, module: str) -> dict[str, str]:
    """Environment for `tk` in which `module` cannot be imported, as if not installed."""
    folder = tmp_path / "blocked"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(f"import sys\nsys.modules[{module!r}] = None\n")
    return {"PYTHONPATH": str(folder)}


@pytest.mark.parametrize(
    ("missing", "command", "extra"),
    [
        ("datasets", ["run", "sft", "--tuner", "lora", "--dataset", "DATA", "--output_dir", "OUT"], "train"),
        ("uvicorn", ["run", "deploy", "--port", "0"], "serve"),
        ("huggingface_hub", ["data", "preview", "--dataset", "DATA"], "train"),
        ("huggingface_hub", ["check", "template"], "train"),
        ("transformers", ["run", "infer"], "train"),
    ],
)
def test_a_missing_library_names_its_extra(
    tk, tiny: Path, tmp_path: Path, missing: str, command: list[str], extra: str
) -> None:
    data = tmp_path / "data.jsonl"
    row = {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}
    data.write_text(json.dumps(row) + "\n")
    places = {"DATA": str(data), "OUT": str(tmp_path / "out")}
    argv = [places.get(a, a) for a in command]
    result = tk(*argv, "--model", str(tiny), env=without(tmp_path, missing), cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    advice = f"pip install 'tunekite[{extra}]'"
    assert errors == [f"Error: {missing} is not installed; this command needs it: {advice}"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("checkpoint-*"))


def test_an_unknown_missing_module_is_not_hidden(tk, tiny: Path, tmp_path: Path) -> None:
    """A ModuleNotFoundError that nothing we know provides is a bug: its traceback stays."""
    result = tk("check", "template", "--model", str(tiny), env=without(tmp_path, "tunekite.templates.check"))
    assert result.returncode == 1
    assert "Traceback" in result.stderr and "ModuleNotFoundError" in result.stderr
