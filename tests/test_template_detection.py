"""Auto-detection across template families: for each family's official Jinja chat template
(the ones the plugins' own tests check parity against), the template chosen by
`chat_template_markers` is that family's, not a neighbour's (qwen vs chatml vs smollm2,
llama vs mistral, llama3 vs llama3_1, deepseek vs deepseek_r1)."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

from tunekite.plugin_host import get_host
from tunekite.templates.resolve import detect_template

TEMPLATES = Path(__file__).resolve().parents[1] / "plugins" / "templates"

# (plugin directory, Jinja constant in its tests/test_<dir>.py, expected template)
CASES = [
    ("chatml", "GENERIC_CHATML", "chatml"),
    ("chatml", "SMOLLM2", "smollm2"),
    ("qwen", "QWEN2", "qwen"),
    ("qwen", "QWEN2_5", "qwen2_5"),
    ("qwen", "QWEN3", "qwen3"),
    ("llama", "LLAMA2", "llama"),
    ("llama", "LLAMA3", "llama3"),
    ("llama", "LLAMA3_1", "llama3_1"),
    ("mistral", "MISTRAL_V0_2", "mistral"),
    ("gemma", "GEMMA3", "gemma"),
    ("gemma", "GEMMA2", "gemma"),
    ("phi3", "PHI3", "phi3"),
    ("glm", "GLM4", "glm4"),
    ("deepseek", "DEEPSEEK_V3", "deepseek"),
    ("deepseek", "DEEPSEEK_R1", "deepseek_r1"),
    ("more", "PHI4", "phi4"),
    ("more", "INTERNLM2", "internlm2"),
    ("more", "QWEN2_5_MATH", "qwen2_5_math"),
    ("more", "GRANITE", "granite"),
    ("more", "MEGREZ", "megrez"),
    ("more", "LLAMA4", "llama4"),
    ("more", "MOONLIGHT", "moonlight"),
    ("more", "COMMAND_R", "command_r"),
    ("more", "AYA", "aya"),
    ("more", "EXAONE", "exaone"),
    ("more", "EXAONE3_5", "exaone3_5"),
    ("more", "TULU3", "tulu3"),
    ("more", "OLMO2", "olmo2"),
    ("more", "ZEPHYR", "zephyr"),
    ("more", "OPENCHAT", "openchat"),
    ("more", "VICUNA", "vicuna"),
    ("more", "ALPACA", "alpaca"),
    ("more", "DEEPSEEK_LLM", "deepseek_llm"),
    ("more", "DEEPSEEK_CODER", "deepseek_coder"),
    ("more", "ERNIE4_5", "ernie4_5"),
    ("more", "BAICHUAN", "baichuan"),
    ("more", "MINICPM", "minicpm"),
    ("more", "TELECHAT", "telechat"),
    ("more", "ORION", "orion"),
    ("more", "XVERSE", "xverse"),
]

PACKAGES = {"more": "tunekite_templates_more"}


@cache
def _plugin_tests(directory: str) -> ModuleType:
    """A plugin's test module, loaded by path (plugin `tests/` folders are not packages)."""
    path = TEMPLATES / directory / "tests" / f"test_{directory}.py"
    spec = importlib.util.spec_from_file_location(f"_detection_{directory}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("directory", "constant", "expected"), CASES, ids=[c[1].lower() for c in CASES])
def test_markers_pick_the_family_of_each_official_chat_template(
    directory: str, constant: str, expected: str
) -> None:
    # the plugin whose template this is
    importlib.import_module(PACKAGES.get(directory, f"tunekite_{directory}"))
    chat_template = getattr(_plugin_tests(directory), constant)
    assert detect_template(chat_template, get_host()) == expected
