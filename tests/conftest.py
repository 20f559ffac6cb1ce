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
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the installed `tk` with a wide terminal so rich tables do not fold names."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    for switch in ("TUNEKITE_PLUGINS", "TUNEKITE_STRICT_PLUGINS", "TUNEKITE_CUSTOM_REGISTER_PATH"):
        if env is None or switch not in env:
            full_env.pop(switch, None)
    return subprocess.run([TK, *args], env=full_env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


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


@pytest.fixture(scope="session")
def tiny_chat(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny chat model folder and a 40-row conversation jsonl, for runs of a few steps."""
    import json

    from tunekite.testing import save_tiny_chat_model

    model = save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{i} plus {i}?"},
                {"role": "assistant", "content": f"{2 * i}."},
            ]
        }
        for i in range(40)
    ]
    data = model.parent / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return model, data


@pytest.fixture
def sft_argv(tiny_chat):
    """`sft_argv(out, *extra)`: `tk run sft` arguments training `tiny_chat` into `out` (no
    version folder, no reporting, no validation split, a log line per step)."""
    model, data = tiny_chat

    def argv(out: Path, *extra: str) -> list[str]:
        return [
            "--model", str(model), "--dataset", str(data), "--output_dir", str(out), "--add_version", "false",
            "--report_to", "none", "--gradient_checkpointing", "false", "--split_dataset_ratio", "0",
            "--logging_steps", "1", *extra,
        ]  # fmt: skip

    return argv
