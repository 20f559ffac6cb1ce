"""The README's plugin examples work as written: the one-file reward through
`--custom_register_path`, and "Writing a plugin" copied out file by file, installed
in a fresh environment and passing its own conformance tests."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    return README.split(title, 1)[1].split("\n## ", 1)[0]


def _readme_reward(tmp_path: Path) -> Path:
    (code,) = [c for c in re.findall(r"```python\n(.*?)```", _section("#### Your own reward"), re.S)
               if c.startswith("# my_reward.py")]
    path = tmp_path / "my_reward.py"
    path.write_text(code)
    return path


def test_readme_reward_registers_and_scores(tk_plugins, tmp_path: Path) -> None:
    host = tk_plugins.host
    host.add_file(_readme_reward(tmp_path))
    spec = host.registry("rewards").get("short")
    reward = spec.load()(spec.args(short_max_chars=3))
    assert reward(["abc", "abcd"]) == [1.0, 0.0]


def test_readme_reward_is_listed_by_tk(tk, tmp_path: Path) -> None:
    result = tk("list", "rewards", "--custom_register_path", str(_readme_reward(tmp_path)))
    assert result.returncode == 0, result.stderr
    assert "short" in result.stdout and "1 for short completions" in result.stdout


def copy_plugin_example(folder: Path) -> Path:
    """Every fenced block of "Writing a plugin" whose first line is `# tunekite-hello/PATH`,
    written to PATH under `folder`, as a reader would copy them."""
    blocks = re.findall(r"```\w+\n# (tunekite-hello/\S+)\n(.*?)```", _section("## Writing a plugin"), re.S)
    assert {path for path, _ in blocks} == {
        "tunekite-hello/pyproject.toml",
        "tunekite-hello/tunekite_hello/__init__.py",
        "tunekite-hello/tests/test_hello.py",
    }
    for path, body in blocks:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body)
    return folder / "tunekite-hello"


@pytest.mark.slow
def test_readme_plugin_installs_and_passes_its_conformance_tests(
    wheels: dict[str, Path], libraries: dict[str, Path], fresh_venv, tmp_path: Path
) -> None:
    project = copy_plugin_example(tmp_path / "reader")
    install = fresh_venv([wheels["tunekite"]], libraries["train"])
    # `pip install -e '.[test]'`, offline: the build backend and pytest are already there
    install.pip("install", "--quiet", "--no-deps", "--no-index", "--no-build-isolation", "-e", str(project))
    plugins = install.plugins()
    assert plugins["tunekite-hello"]["status"] == "loaded", plugins["tunekite-hello"]
    assert plugins["tunekite-hello"]["registered"] == {
        "templates": ["hello-zephyr"], "tuners": ["norm-tuning"], "engines": ["pt-capped"],
    }
    result = subprocess.run(
        [str(install.bin / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", result.stdout).group(1))
    assert passed >= 20 and "failed" not in result.stdout and "error" not in result.stdout.lower()
