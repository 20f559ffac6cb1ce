"""The `gguf` exporter: a Llama-architecture Hugging Face folder written as one llama.cpp
GGUF file with the `gguf` package's own tables, the way llama.cpp's `convert_hf_to_gguf.py`
writes Llama (which is not published on PyPI): tensor names from `gguf.TensorNameMap`,
q/k rows permuted to llama.cpp's rotary layout, the byte-level BPE vocabulary through
`gguf.vocab.BpeVocab`, merges, special ids and the chat template through `gguf.SpecialVocab`,
and the weights quantized by `gguf.quants`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError

ARCHITECTURES = ("llama",)
"""`model_type`s whose weights map one to one onto llama.cpp's `llama` architecture."""
FILE_TYPES = {
    "f32": "ALL_F32",
    "f16": "MOSTLY_F16",
    "bf16": "MOSTLY_BF16",
    "q8_0": "MOSTLY_Q8_0",
    "q4_0": "MOSTLY_Q4_0",
    "q4_1": "MOSTLY_Q4_1",
    "q5_0": "MOSTLY_Q5_0",
    "q5_1": "MOSTLY_Q5_1",
}
"""`--gguf_quantization` -> llama.cpp file type; these are the ones `gguf.quants` can write."""


def export(args: Any, run: Any, source: Path) -> Path:
    """Write `<name>-<quantization>.gguf` into `run.output_dir` and return its path; the name
    is the merged folder's, else --model's (not that of the cache folder it converted to)."""
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if "quantization_config" in config:
        raise ArgumentError(f"--to_gguf: {source} is already quantized; convert the full model instead")
    if config.get("model_type") not in ARCHITECTURES:
        raise ArgumentError(
            f"--to_gguf: {source} is a {config.get('model_type')!r} model; the GGUF exporter writes "
            f"{', '.join(ARCHITECTURES)} models"
        )
    if not (source / "tokenizer.json").is_file():
        raise ArgumentError(f"--to_gguf: {source} has no tokenizer.json (a fast BPE tokenizer is needed)")
    stem = source.name if run.merge_lora else Path(str(run.model)).name.removesuffix(".gguf")
    target = Path(run.output_dir) / f"{stem}-{args.gguf_quantization}.gguf"
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        write_gguf(source, config, staging, args.gguf_quantization)
        os.replace(staging, target)
    finally:
        staging.unlink(missing_ok=True)
    return target


def write_gguf(source: Path, config: dict[str, Any], path: Path, quantization: str) -> None:
    """The llama.cpp `llama` GGUF of the model in `source`."""
    import gguf
    from safetensors.torch import load_file

    arch = gguf.MODEL_ARCH.LLAMA
    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[arch])
    _write_hparams(writer, config, source.name)
    writer.add_file_type(getattr(gguf.LlamaFileType, FILE_TYPES[quantization]))
    _write_vocab(writer, source, config["vocab_size"])
    names = gguf.TensorNameMap(arch, config["num_hidden_layers"])
    weights: dict[str, Any] = {}
    for shard in sorted(source.glob("*.safetensors")):
        weights.update(load_file(shard))
    if config.get("tie_word_embeddings"):
        weights.pop("lm_head.weight", None)  # llama.cpp reuses token_embd
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    for key, tensor in weights.items():
        name = names.get_name(key, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise ArgumentError(f"--to_gguf: {source}: tensor {key!r} has no llama.cpp name")
        array = tensor.float().numpy()
        if key.endswith("q_proj.weight"):
            array = _rotary_rows(array, heads)
        elif key.endswith("k_proj.weight"):
            array = _rotary_rows(array, kv_heads)
        data, qtype = _quantized(array, quantization)
        writer.add_tensor(name, data, raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def _write_hparams(writer: Any, config: dict[str, Any], name: str) -> None:
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(hidden)
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads") or heads)
    writer.add_rope_dimension_count(config.get("head_dim") or hidden // heads)
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    rope = config.get("rope_parameters") or {}
    writer.add_rope_freq_base(float(rope.get("rope_theta", config.get("rope_theta", 10000.0))))
    writer.add_vocab_size(config["vocab_size"])


def _write_vocab(writer: Any, source: Path, vocab_size: int) -> None:
    """Tokens padded to the embedding's rows (as llama.cpp's converter does), then merges,
    special token ids, add-bos/eos flags and the chat template."""
    import gguf

    try:
        vocab = gguf.vocab.BpeVocab(source)
    except FileNotFoundError:
        raise ArgumentError(f"--to_gguf: {source}: only byte-level BPE tokenizers are supported") from None
    tokens, types = [], []
    for text, _score, kind in vocab.all_tokens():
        tokens.append(text if isinstance(text, str) else text.decode("utf-8"))
        types.append(kind)
    if len(tokens) > vocab_size:
        raise ArgumentError(f"--to_gguf: {source}: {len(tokens)} tokens but {vocab_size} embedding rows")
    for i in range(len(tokens), vocab_size):
        tokens.append(f"[PAD{i}]")
        types.append(gguf.TokenType.UNUSED)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(source, load_merges=True, n_vocab=vocab_size).add_to_gguf(writer, quiet=True)


def _rotary_rows(weight: Any, heads: int) -> Any:
    """HF's rotate-half q/k rows to llama.cpp's interleaved pairs (the converter's `permute`)."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)
    )


def _quantized(array: Any, quantization: str) -> tuple[Any, Any]:
    """The tensor's bytes and GGML type: 1-D tensors (norms) stay f32, as llama.cpp keeps them;
    a matrix whose rows do not split into the type's blocks falls back to f16."""
    import gguf
    import numpy as np

    if array.ndim < 2 or quantization == "f32":
        return np.ascontiguousarray(array, dtype=np.float32), gguf.GGMLQuantizationType.F32
    qtype = getattr(gguf.GGMLQuantizationType, quantization.upper())
    if qtype == gguf.GGMLQuantizationType.F16:
        return np.ascontiguousarray(array, dtype=np.float16), qtype
    block = gguf.GGML_QUANT_SIZES[qtype][0]
    if array.shape[-1] % block:
        return np.ascontiguousarray(array, dtype=np.float16), gguf.GGMLQuantizationType.F16
    return gguf.quants.quantize(array, qtype), qtype
