"""GGUF files become cached Hugging Face folders: converted once, atomically, exactly."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tunekite.api import TunekiteError, registry
from tunekite_gguf import convert
from tunekite_gguf.convert import cached_folder, hf_folder


def logits(model, ids):
    import torch

    with torch.no_grad():
        return model(torch.tensor([ids])).logits


def test_registers_the_gguf_loader_and_the_named_model() -> None:
    gguf = registry("models").get("gguf")
    assert gguf.file_suffixes == (".gguf",) and gguf.folder == "tunekite_gguf.convert:hf_folder"
    smollm2 = registry("models").get("smollm2-135m-instruct")
    assert smollm2.template == "smollm2" and smollm2.folder == "tunekite_gguf.named:smollm2_folder"


def test_conversion_writes_a_plain_hf_folder_with_equal_logits(cache_dir, tiny_gguf, gguf_loads) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path, original = tiny_gguf
    folder = hf_folder(path)
    assert folder.parent == cache_dir / "gguf" and folder.name.startswith("tiny-")
    assert {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json"} <= set(
        os.listdir(folder)
    )
    assert "quantization_config" not in json.loads((folder / "config.json").read_text())
    (from_gguf,) = gguf_loads
    cached = AutoModelForCausalLM.from_pretrained(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer("hello world, the kite").input_ids
    assert logits(cached, ids).equal(logits(from_gguf, ids))
    assert logits(cached, ids).equal(logits(original, ids))  # fp32 in, fp32 out: nothing lost
    chat = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False)
    assert chat == "<|im_start|>user\nhi<|im_end|>\n"
    assert (tokenizer.eos_token, tokenizer.pad_token) == ("<|im_end|>", "<|endoftext|>")
    assert cached.generation_config.eos_token_id == 2


def test_second_load_comes_from_the_cache(cache_dir, tiny_gguf, gguf_loads) -> None:
    path, _ = tiny_gguf
    first = hf_folder(path)
    second = hf_folder(path)
    assert first == second and len(gguf_loads) == 1


def test_changed_file_is_converted_again(cache_dir, tiny_gguf) -> None:
    path, _ = tiny_gguf
    before = cached_folder(path)
    with open(path, "ab") as handle:
        handle.write(b"\0")
    assert cached_folder(path) != before


def test_a_copy_in_another_environment_shares_the_conversion(cache_dir, tiny_gguf, tmp_path) -> None:
    path, _ = tiny_gguf
    other = tmp_path / "another-venv" / path.name
    other.parent.mkdir()
    shutil.copy(path, other)
    os.utime(other, ns=(0, path.stat().st_mtime_ns + 10**9))
    assert cached_folder(other) == cached_folder(path)


def test_leftover_temp_of_a_dead_process_is_ignored_and_removed(cache_dir, tiny_gguf) -> None:
    path, _ = tiny_gguf
    target = cached_folder(path)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    stale = target.parent / f".{target.name}.tmp-{dead}-abc"
    live = target.parent / f".{target.name}.tmp-{os.getppid()}-xyz"  # a conversion still running
    for tmp in (stale, live):
        tmp.mkdir(parents=True)
        (tmp / "model.safetensors").write_bytes(b"half written")
    folder = hf_folder(path)
    assert (folder / "config.json").is_file()
    assert not stale.exists() and live.exists()


def test_failed_conversion_leaves_nothing_behind(cache_dir, tiny_gguf, monkeypatch) -> None:
    path, _ = tiny_gguf

    def killed(source, dest):
        (dest / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(convert, "_convert", killed)
    with pytest.raises(KeyboardInterrupt):
        hf_folder(path)
    assert list((cache_dir / "gguf").iterdir()) == []


def test_incomplete_cache_folder_is_rebuilt(cache_dir, tiny_gguf) -> None:
    path, _ = tiny_gguf
    target = cached_folder(path)
    target.mkdir(parents=True)
    (target / "model.safetensors").write_bytes(b"junk")
    assert (hf_folder(path) / "config.json").is_file()


def test_missing_file_is_named(cache_dir, tmp_path) -> None:
    with pytest.raises(TunekiteError, match=r"GGUF file '.*nope\.gguf' does not exist"):
        hf_folder(tmp_path / "nope.gguf")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("TUNEKITE_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert convert.cache_root() == tmp_path / "tunekite" / "gguf"
    monkeypatch.setenv("TUNEKITE_CACHE_DIR", str(tmp_path / "tk"))
    assert convert.cache_root() == tmp_path / "tk" / "gguf"
