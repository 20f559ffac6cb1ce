from __future__ import annotations

from pathlib import Path

import pytest

from tunekite_gguf.testing import write_tiny_gguf


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty TuneKite cache for this test."""
    monkeypatch.setenv("TUNEKITE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def tiny_gguf(tmp_path: Path) -> tuple[Path, object]:
    """A tiny GGUF file and the Hugging Face model it holds."""
    path = tmp_path / "models" / "tiny.gguf"
    path.parent.mkdir()
    return path, write_tiny_gguf(path)


@pytest.fixture
def gguf_loads(monkeypatch: pytest.MonkeyPatch) -> list:
    """Every model transformers loads from a GGUF file while the test runs."""
    import transformers

    loads: list = []
    original = transformers.AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        model = original(*args, **kwargs)
        if kwargs.get("gguf_file"):
            loads.append(model)
        return model

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    return loads
