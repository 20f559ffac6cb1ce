"""Helpers for cross-distribution tests: the real `tk` in a subprocess, fake installs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import venv
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import pytest

from tunekite.testing import save_tiny_chat_model

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


# -- fresh installs from wheels (test_fresh_install.py, test_readme_plugin.py) ---------
# The wheels are built once per session (`pip wheel --no-deps`) and installed with
# `--no-deps --no-index` into venvs that see third-party libraries through a `.pth` file
# naming a folder of links into this interpreter's site-packages: only core's own
# dependencies for a core-only install, everything but the tunekite distributions (and
# their editable-install hooks) for a `tunekite[train]` install. So each install sees
# exactly the tunekite distributions it installed, and no network is needed.

ROOT = Path(__file__).resolve().parents[1]
DISTRIBUTIONS = {
    "tunekite": ROOT / "core",
    "tunekite-lora": ROOT / "plugins/tuners/lora",
    "tunekite-chatml": ROOT / "plugins/templates/chatml",
    "tunekite-vllm": ROOT / "plugins/engines/vllm",
}
CORE_DEPENDENCIES = ("pluggy", "click", "rich", "markdown_it", "mdurl", "pygments", "yaml", "_yaml")
SITE = Path(sysconfig.get_paths()["purelib"])


def _third_party(folder: Path, only: tuple[str, ...] | None) -> Path:
    """Links to this interpreter's installed libraries, never a tunekite distribution nor
    its editable-install hooks: with `only`, just those modules and their distributions."""
    folder.mkdir()
    if only is None:
        skip = ("tunekite", "_editable_impl", "__editable__", "__pycache__")
        entries = [e for e in SITE.iterdir() if not e.name.startswith(skip) and e.suffix != ".pth"]
    else:
        owners = metadata.packages_distributions()
        entries = [e for m in only for e in (SITE / m, SITE / f"{m}.py") if e.exists()]
        for module in only:
            for dist in owners.get(module, []):
                entries += SITE.glob(f"{dist.replace('-', '_')}-*.dist-info")
    for entry in set(entries):
        (folder / entry.name).symlink_to(entry)
    return folder


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(out), *map(str, DISTRIBUTIONS.values())],
        check=True,
    )
    found = {}
    for wheel in out.glob("*.whl"):
        name = wheel.name.split("-")[0].replace("_", "-")
        found[name] = wheel
    assert set(found) == set(DISTRIBUTIONS), found
    return found


@pytest.fixture(scope="session")
def libraries(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("libraries")
    core = _third_party(root / "core", CORE_DEPENDENCIES)
    return {"core": core, "train": _third_party(root / "train", None)}


class Install:
    """A fresh venv holding the given tunekite wheels and seeing the given libraries."""

    def __init__(self, folder: Path, wheels: list[Path], libraries: Path) -> None:
        venv.create(folder, with_pip=False, symlinks=True)
        self.bin = folder / "bin"
        python = self.bin / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True, capture_output=True, text=True,
        ).stdout.strip()
        Path(purelib, "tunekite-test-libraries.pth").write_text(f"{libraries}\n")
        self.pip("install", "--quiet", "--no-deps", "--no-index", *map(str, wheels))
        self.cache = folder / "cache"

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(self.bin / "python"), *args],
            check=True, capture_output=True, text=True,
        )

    def tk(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        own = ("TUNEKITE_", "PYTHON", "VIRTUAL_ENV")
        env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
        env.update(COLUMNS="200", TUNEKITE_CACHE_DIR=str(self.cache), HF_HUB_OFFLINE="1")
        return subprocess.run(
            [str(self.bin / "tk"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
        )

    def plugins(self) -> dict[str, dict]:
        result = self.tk("plugins", "--json")
        assert result.returncode == 0, result.stderr
        return {p["distribution"]: p for p in json.loads(result.stdout)["plugins"]}


@pytest.fixture
def fresh_venv(tmp_path: Path) -> Callable[[list[Path], Path], Install]:
    """`fresh_venv(wheels, libraries)`: a new venv with those wheels, seeing those libraries."""
    return lambda wheels, libraries: Install(tmp_path / "venv", wheels, libraries)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny chat model folder (Llama + ChatML tokenizer), once per test module."""
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat")


@pytest.fixture(scope="module")
def data_file(tmp_path_factory) -> Path:
    """48 one-turn sums in `messages` rows, as a jsonl file."""
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"what is {i} plus {i}?"},
                {"role": "assistant", "content": f"{i} plus {i} is {2 * i}."},
            ]
        }
        for i in range(48)
    ]
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


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


def quick_sft_argv(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """`tk run sft` arguments training `model` on `data` into `out` for a test: no version
    folder, no reporting, no validation split, a log line per step."""
    return [
        "--model", str(model), "--dataset", str(data), "--output_dir", str(out), "--add_version", "false",
        "--report_to", "none", "--gradient_checkpointing", "false", "--split_dataset_ratio", "0",
        "--logging_steps", "1", *extra,
    ]  # fmt: skip


@pytest.fixture
def sft_argv(tiny_chat):
    """`sft_argv(out, *extra)`: `quick_sft_argv` for `tiny_chat`."""
    model, data = tiny_chat
    return lambda out, *extra: quick_sft_argv(model, data, out, *extra)


@pytest.fixture
def tiny_sft(sft_argv, tmp_path, monkeypatch) -> Callable[..., Path]:
    """`tiny_sft(*extra)`: four steps of `tk run sft` on `tiny_chat`, run in `tmp_path` with
    `extra` arguments (the tuner and its own); returns `checkpoint-4`."""
    from tunekite.api import start

    monkeypatch.chdir(tmp_path)

    def sft(*extra: str) -> Path:
        out = tmp_path / "run"
        steps = ["--max_steps", "4", "--save_steps", "4", "--learning_rate", "1e-2"]
        start("sft", sft_argv(out, *steps, "--per_device_train_batch_size", "4", *extra))
        return out / "checkpoint-4"

    return sft
