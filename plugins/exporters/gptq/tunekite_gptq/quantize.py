"""GPTQ and AWQ through gptqmodel: calibration conversations rendered through the run's chat
template, `GPTQModel.load` with a `GPTQConfig`/`AWQConfig`, `quantize`, `save`. The folder
loads with transformers (with `optimum` installed) and with gptqmodel."""

from __future__ import annotations

import contextlib
import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, TunekiteError, staged_into
from tunekite_gptq.plugin import GptqArguments

SAMPLE = Path(__file__).with_name("calibration.jsonl")
"""The calibration conversations used without --dataset: varied topics, short and long."""
CALIBRATION_LENGTH = 2048
GPTQ_MSE = 2.4
"""gptqmodel's `mse` norm: each group's scale is searched by shrinking its range and keeping
the one with the least quantization error (the GPTQ paper's grid search; gptqmodel's default
0 keeps the min-max range). Measured on SmolLM2-135M (16 bundled conversations, group size
32, bench/held_out.txt): perplexity 23.93 against 21.10 unquantized (+13.4 %), 24.83 (+17.7 %)
without it."""
ENVIRONMENT = (
    "needs gptqmodel, which needs torch>=2.14.1 (newer than TuneKite's main environment): build "
    "its own with `make quant-env` and run `.venv-quant/bin/tk run export ...`"
)


def gptq(args: GptqArguments, run: Any, source: Path) -> Path:
    """The `gptq` exporter: GPTQ weights of `source` in `run.output_dir`."""
    return _quantize(args, run, source, "gptq")


def awq(args: GptqArguments, run: Any, source: Path) -> Path:
    """The `awq` exporter: AWQ (GEMM) weights of `source` in `run.output_dir`."""
    if args.quant_bits not in (None, 4):
        raise ArgumentError(
            f"--quant_method awq: AWQ writes 4-bit weights, got --quant_bits {args.quant_bits}"
        )
    return _quantize(args, run, source, "awq")


def _quantize(args: GptqArguments, run: Any, source: Path, method: str) -> Path:
    if args.quant_bits is None and method == "gptq":
        raise ArgumentError("--quant_method gptq: pass --quant_bits 2, 3, 4 or 8")
    config = json.loads((source / "config.json").read_text(encoding="utf-8"))
    if "quantization_config" in config:
        raise ArgumentError(f"--quant_method {method}: {source} is already quantized; export the full model")
    widths = {config.get("hidden_size"), config.get("intermediate_size")} - {None}
    if args.group_size != -1 and any(width % args.group_size for width in widths):
        raise ArgumentError(
            f"--group_size {args.group_size} does not divide this model's layer widths {sorted(widths)}: "
            "the quantized layers could not load; pick a divisor (SmolLM2-135M: 64 or 32)"
        )
    try:
        import gptqmodel
    except ImportError:
        raise TunekiteError(f"--quant_method {method} {ENVIRONMENT}") from None
    grid = dict(bits=args.quant_bits or 4, group_size=args.group_size, sym=args.quant_sym)
    if method == "awq":
        quant_config = gptqmodel.AWQConfig(**grid)
    else:
        quant_config = gptqmodel.GPTQConfig(**grid, mse=GPTQ_MSE)
    samples = calibration(args, run, method)
    model = gptqmodel.GPTQModel.load(str(source), quant_config, device="cpu")
    # gptqmodel writes per-layer logs into ./logs; keep them out of the user's folder
    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
        model.quantize(samples, batch_size=args.quant_batch_size)
    with staged_into(run.output_dir) as staging:
        model.save(str(staging))
    return run.output_dir


def calibration(args: GptqArguments, run: Any, method: str) -> list[dict[str, list[int]]]:
    """Up to --quant_n_samples conversations rendered through the run's template, as gptqmodel's
    `{"input_ids", "attention_mask"}` rows of at most --max_length tokens (the template group's;
    unset: CALIBRATION_LENGTH, ms-swift's). GPTQ gets one row per conversation; AWQ gets
    `awq_blocks` of them."""
    from tunekite.api import DataArguments, build_template, load_datasets, load_tokenizer

    tokenizer = load_tokenizer(run)
    template = build_template(
        tokenizer, run.groups["template"], run.model, run.model_type, host=run.plugin_host, quiet=True
    )
    files = args.dataset or [str(SAMPLE)]
    rows, _, _ = load_datasets(DataArguments(dataset=files, split_dataset_ratio=0.0), host=run.plugin_host)
    length = run.groups["template"].max_length or CALIBRATION_LENGTH
    conversations = [
        tokenizer(template.render(row["messages"]), add_special_tokens=False)["input_ids"]
        for row in itertools.islice(rows, args.quant_n_samples)
    ]
    if not conversations:
        raise ArgumentError(f"--dataset {' '.join(files)}: no calibration rows")
    pieces = awq_blocks(conversations, length) if method == "awq" else [ids[:length] for ids in conversations]
    return [{"input_ids": ids, "attention_mask": [1] * len(ids)} for ids in pieces]


def awq_blocks(conversations: list[list[int]], length: int) -> list[list[int]]:
    """The conversations joined end to end and cut into blocks of `length` tokens, as ms-swift
    and AutoAWQ calibrate AWQ: a partial last block is dropped, unless it is the only one.
    Equal lengths matter: when calibration batches differ in length, gptqmodel's AWQ keeps
    only the last batch's activations for its scale and clip search (sorted longest first,
    the shortest conversation's)."""
    tokens = [token for ids in conversations for token in ids]
    count = max(len(tokens) // length, 1)
    return [tokens[i * length : (i + 1) * length] for i in range(count)]
