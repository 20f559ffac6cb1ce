"""Helpers for cross-distribution tests: the real `tk` in a subprocess, fake installs."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TK = str(Path(sys.executable).parent / "tk")


def run_tk(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
    input: str | None = None,
) -> subprocess.CompletedProcess:
    """Run the installed `tk` with a wide terminal so rich tables do not fold names;
    `input` is its stdin."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    for switch in ("TUNEKITE_PLUGINS", "TUNEKITE_STRICT_PLUGINS", "TUNEKITE_CUSTOM_REGISTER_PATH"):
        if env is None or switch not in env:
            full_env.pop(switch, None)
    return subprocess.run(
        [TK, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout, input=input
    )


def install_fake_distribution(root: Path, dist: str, module: str, source: str) -> Path:
    """An installed distribution as importlib.metadata sees it: a dist-info folder with
    an entry point in the `tunekite` group, and its module, on a PYTHONPATH entry."""
    root.mkdir(parents=True, exist_ok=True)
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[tunekite]\n{module} = {module}\n")
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    return root


@pytest.fixture
def tk():
    """The installed `tk` command, run in a subprocess."""
    return run_tk


@pytest.fixture
def site(tmp_path: Path):
    """A folder to install fake distributions into; returns (install, env)."""
    root = tmp_path / "site"

    def install(dist: str, module: str, source: str) -> dict[str, str]:
        install_fake_distribution(root, dist, module, source)
        return {"PYTHONPATH": str(root)}

    return install
