"""ms-swift model types (tunekite-model-families) with the template plugins: `--model_type`
forces a family's template on a local folder, and a folder's config.json architectures
(with its chat template, where several families share one) pick the model type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_tk
from tunekite.api import start
from tunekite.models.resolve import resolve_model_spec
from tunekite.plugin_host import get_host
from tunekite.testing import save_tiny_chat_model

SWIFT_MODEL_TYPES = [
    *("qwen", "qwen2", "qwen2_5", "qwen3", "llama", "llama3", "llama3_1", "llama3_2", "mistral", "mixtral"),
    *("gemma", "gemma2", "gemma3", "phi3", "phi4", "glm4", "deepseek", "deepseek_v2", "deepseek_v3"),
    *("deepseek_r1_distill", "internlm2", "internlm3", "yi", "baichuan2", "minicpm", "olmo2", "smollm2"),
]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("types") / "tiny-chat")


def retyped(tiny: Path, folder: Path, architectures: list[str], chat_template: str | None = None) -> Path:
    """A copy of the tiny model's config and tokenizer files claiming other architectures."""
    folder.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (tiny / name).is_file():
            (folder / name).write_bytes((tiny / name).read_bytes())
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": architectures}))
    if chat_template is not None:
        (folder / "chat_template.jinja").write_text(chat_template)
    return folder


def test_every_swift_model_type_names_an_installed_template_and_architectures() -> None:
    models, templates = get_host().registry("models"), get_host().registry("templates")
    for name in SWIFT_MODEL_TYPES:
        spec = models.get(name)
        assert spec.template in templates, f"{name}: template {spec.template!r} is not installed"
        assert spec.architectures, name


def test_list_models_shows_the_families() -> None:
    result = run_tk("list", "models")
    assert result.returncode == 0, result.stderr
    listed = {line.split("│")[1].strip() for line in result.stdout.splitlines() if line.count("│") > 2}
    assert set(SWIFT_MODEL_TYPES) <= listed


def test_an_unshared_architecture_picks_its_model_type(tiny: Path, tmp_path: Path) -> None:
    def typed(name: str, architecture: str) -> str:
        return resolve_model_spec(str(retyped(tiny, tmp_path / name, [architecture])), host=get_host()).name

    assert typed("g2", "Gemma2ForCausalLM") == "gemma2"
    assert typed("o2", "Olmo2ForCausalLM") == "olmo2"
    assert typed("x", "NobodysForCausalLM") == "hf"


def test_a_shared_architecture_is_told_apart_by_the_chat_template(tiny: Path, tmp_path: Path) -> None:
    """Qwen2ForCausalLM is qwen2, qwen2_5 and deepseek_r1_distill: the chat template decides."""
    qwen2_5 = (
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
        "{{ '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant."
        "<|im_end|>\\n' }}"
        "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n'}}"
        "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
    )
    folder = retyped(tiny, tmp_path / "q", ["Qwen2ForCausalLM"], qwen2_5)
    assert resolve_model_spec(str(folder), host=get_host()).name == "qwen2_5"
    assert resolve_model_spec(str(folder), "qwen2", host=get_host()).name == "qwen2"  # --model_type forces


def test_sft_with_model_type_uses_its_template(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rows = [{"messages": [{"role": "user", "content": f"say {i}"}, {"role": "assistant", "content": f"{i}"}]}
            for i in range(4)]  # fmt: skip
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    start("sft", [
        "--model", str(tiny), "--model_type", "qwen2_5", "--tuner", "full", "--dataset", str(data),
        "--output_dir", str(tmp_path / "out"), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--gradient_checkpointing", "false", "--max_steps", "1",
        "--per_device_train_batch_size", "2", "--save_strategy", "no",
    ])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    assert "template: qwen2_5 (declared by model type 'qwen2_5')" in err
    args = json.loads((tmp_path / "out" / "args.json").read_text())
    assert args.get("model_type") == "qwen2_5"


def test_sft_without_model_type_types_the_folder_by_its_architectures(
    tiny: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The tiny Llama's weights load whatever `architectures` says (transformers reads
    `model_type`), so a copy claiming Gemma2ForCausalLM trains as model type gemma2."""
    import shutil

    folder = tmp_path / "typed"
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["Gemma2ForCausalLM"]}))
    data = tmp_path / "rows.jsonl"
    row = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    data.write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n", encoding="utf-8")
    start("sft", [
        "--model", str(folder), "--tuner", "full", "--dataset", str(data),
        "--output_dir", str(tmp_path / "out"), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--gradient_checkpointing", "false", "--max_steps", "1",
        "--per_device_train_batch_size", "2", "--save_strategy", "no",
    ])  # fmt: skip
    err = " ".join(capsys.readouterr().err.split())
    why = "declared by model type 'gemma2', picked by the folder's config.json architectures"
    assert f"template: gemma ({why})" in err


def test_a_hub_id_with_a_model_type_offline_is_one_clear_line(tmp_path: Path) -> None:
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    hub_id = ["--model", "Qwen/Qwen2.5-0.5B-Instruct", "--model_type", "qwen2_5"]
    result = run_tk("check", "template", *hub_id, env=env)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "'Qwen/Qwen2.5-0.5B-Instruct' is not a local folder, and hub access is off" in lines[0]
