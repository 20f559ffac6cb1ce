"""`pip install tunekite tunekite-X` from wheels, in fresh virtual environments (see
the fixtures in conftest.py): each install behaves as the README's "Installing from
packages" says."""


from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def one_line_error(result: subprocess.CompletedProcess, *expected: str) -> str:
    """The command failed with one clean error line (no traceback, after any progress
    lines) holding every expected text."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert [line for line in lines if line.startswith("Error:")] == lines[-1:], result.stderr
    for text in expected:
        assert text in lines[-1], lines[-1]
    return lines[-1]


@pytest.fixture
def data(tmp_path: Path) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "hello"}]}
            for i in range(8)]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_plugin_wheels_declare_what_they_need(wheels: dict[str, Path]) -> None:
    def requires(dist: str) -> list[str]:
        with zipfile.ZipFile(wheels[dist]) as wheel:
            (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
            text = wheel.read(metadata).decode()
        lines = text.splitlines()
        return [line.split(":", 1)[1].strip() for line in lines if line.startswith("Requires-Dist:")]

    assert "tunekite[train]<0.2,>=0.1" in requires("tunekite-lora")
    assert "tunekite<0.2,>=0.1" in requires("tunekite-chatml")
    assert any(r.startswith("vllm") and "extra == 'gpu'" in r for r in requires("tunekite-vllm"))
    assert any(r.startswith("pytest") and "extra == 'test'" in r for r in requires("tunekite"))


def test_core_alone_answers_every_missing_part_in_one_line(
    wheels: dict[str, Path], libraries: dict[str, Path], fresh_venv, tmp_path: Path, data: Path
) -> None:
    core = fresh_venv([wheels["tunekite"]], libraries["core"])
    assert core.tk("--help").returncode == 0
    assert set(core.plugins()) == {"tunekite"}
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    sft = core.tk("run", "sft", "--model", str(model), "--dataset", str(data))
    one_line_error(sft, "Unknown tuner 'lora'", "pip install tunekite-lora")
    full = core.tk("run", "sft", "--model", str(model), "--dataset", str(data), "--tuner", "full")
    one_line_error(full, "is not installed", "pip install 'tunekite[train]'")
    infer = core.tk("run", "infer", "--model", str(model))
    assert "tuner" not in infer.stderr
    one_line_error(infer, "pip install 'tunekite[train]'")
    deploy = core.tk("run", "deploy", "--model", str(model))
    one_line_error(deploy, "is not installed", "pip install 'tunekite[")
    preview = core.tk("data", "preview", "--model", str(model), "--dataset", str(data))
    one_line_error(preview, "pip install 'tunekite[train]'")
    for runnable, dist in (("rlhf", "tunekite-rlhf"), ("dpo", "tunekite-rlhf"), ("app", "tunekite-app")):
        one_line_error(core.tk("run", runnable), f"'{runnable}' is provided by {dist}: pip install {dist}")
    named = core.tk("run", "infer", "--model", "smollm2-135m-instruct")
    one_line_error(named, "'smollm2-135m-instruct' is provided by tunekite-gguf: pip install tunekite-gguf")
    vllm = core.tk("run", "infer", "--model", str(model), "--infer_backend", "vllm")
    one_line_error(vllm, "'vllm' is provided by tunekite-vllm: pip install tunekite-vllm")


def test_plugins_without_their_libraries_say_how_to_get_them(
    wheels: dict[str, Path], libraries: dict[str, Path], fresh_venv, tmp_path: Path, data: Path
) -> None:
    dists = [wheels["tunekite"], wheels["tunekite-lora"], wheels["tunekite-vllm"]]
    install = fresh_venv(dists, libraries["core"])
    plugins = install.plugins()
    assert plugins["tunekite-lora"]["status"] == "loaded"
    assert "needs torch, transformers, peft" in plugins["tunekite-lora"]["missing"]
    assert "pip install 'tunekite[train]'" in plugins["tunekite-lora"]["missing"]
    assert "pip install 'tunekite-vllm[gpu]'" in plugins["tunekite-vllm"]["missing"]
    table = install.tk("plugins")
    assert "not usable" in table.stdout and "tunekite-vllm[gpu]" in table.stdout
    model = tmp_path / "model"
    model.mkdir()
    sft = install.tk("run", "sft", "--model", str(model), "--dataset", str(data), "--tuner", "lora")
    one_line_error(sft, "is not installed", "pip install 'tunekite[train]'")


def test_core_train_lora_and_chatml_fine_tune_and_infer(
    wheels: dict[str, Path], libraries: dict[str, Path], fresh_venv, tmp_path: Path, data: Path
) -> None:
    from tunekite.testing.models import save_tiny_chat_model

    dists = [wheels["tunekite"], wheels["tunekite-lora"], wheels["tunekite-chatml"], wheels["tunekite-vllm"]]
    install = fresh_venv(dists, libraries["train"])
    assert all(p["status"] == "loaded" for p in install.plugins().values())
    model = save_tiny_chat_model(tmp_path / "model")
    out = tmp_path / "out"
    sft = install.tk(
        "run", "sft", "--model", str(model), "--dataset", str(data), "--tuner", "lora",
        "--output_dir", str(out), "--add_version", "false", "--max_steps", "2", "--save_steps", "2",
        "--report_to", "none", "--split_dataset_ratio", "0", "--gradient_checkpointing", "false",
    )
    assert sft.returncode == 0, sft.stderr[-3000:]
    (checkpoint,) = out.glob("checkpoint-*")
    assert json.loads((checkpoint / "args.json").read_text())["template"] == "chatml"
    vllm = install.tk("run", "infer", "--adapters", str(checkpoint), "--infer_backend", "vllm")
    one_line_error(vllm, "vllm is not installed", "pip install 'tunekite-vllm[gpu]'")
    install.pip("uninstall", "--quiet", "--yes", "tunekite-chatml")
    infer = install.tk("run", "infer", "--adapters", str(checkpoint))
    one_line_error(infer, "trained with template 'chatml'", "pip install tunekite-chatml")
