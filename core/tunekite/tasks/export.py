"""`tk run export`: a chain of exporters, each given what the one before produced.

`--merge_lora true` merges the `--adapters` into the base model (core's `merge`
exporter); then `--quant_method NAME` quantizes, `--to_gguf` converts, `--to_ollama`
writes a Modelfile and `--push_to_hub` uploads (plugins; see
`tunekite.hookspecs.tk_register_exporters` for the factory contract).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.errors import ArgumentError
from tunekite.tasks.loading import (
    apply_adapter,
    checkpoint_args,
    merge_and_save,
    merged_folder,
    tuner_adapter_loader,
    with_checkpoint_args,
)

if TYPE_CHECKING:
    from tunekite.launcher import Run

_NOTHING = (
    "tk run export: nothing to export: pass --merge_lora true, --quant_method NAME, --to_gguf true, "
    "--to_ollama true or --push_to_hub true (`tk list exporters`)"
)


def run(run: Run) -> Path:
    """The `export` task: runs the selected exporters in order; returns the last result."""
    from rich.console import Console

    from tunekite.models.loader import model_folder

    steps = run.components.get("exporters", [])
    quantizer = run.quant_method  # export takes no quantization group: this is its own
    if quantizer is not None and not steps[0].quantizes:
        raise ArgumentError(
            f"--quant_method {quantizer}: the exporter {quantizer!r} does not quantize; it runs with its "
            "own switch (--merge_lora, --to_gguf, --to_ollama, --push_to_hub)"
        )
    if not run.merge_lora and not steps:
        raise ArgumentError(_NOTHING)
    if run.adapters and not run.merge_lora:
        raise ArgumentError("--adapters: pass --merge_lora true, exporters read the merged model")
    run = with_checkpoint_args(run)
    source = merge(None, run, None) if run.merge_lora else model_folder(run)
    if source is None:
        raise ArgumentError(f"--model {run.model}: not a model folder the exporters can read")
    if steps:  # exporters write into --output_dir (tasks get no versioned run folder)
        run = dataclasses.replace(run, output_dir=export_folder(run, steps))
        run.output_dir.mkdir(parents=True, exist_ok=True)
    console = Console(stderr=True, highlight=False)
    for spec in steps:
        source = spec.load()(run.component_args(spec), run, Path(source))
        console.print(f"{spec.name}: {source}")
    return Path(source)


def export_folder(run: Run, steps: list[Any]) -> Path:
    """Where the exporters write: `--output_dir`, else `<adapter>-<exporters>` beside the
    adapter checkpoint, else `output/<model>-<exporters>`."""
    given = run.groups["common"].output_dir
    if given:
        return Path(given)
    names = "-".join(spec.name for spec in steps)
    if run.adapters:
        adapter = Path(run.adapters[0])
        return adapter.with_name(f"{adapter.name}-{names}")
    return Path("output") / f"{Path(str(run.model)).name.removesuffix('.gguf')}-{names}"


def merge(_args: Any, run: Run, _source: Path | None) -> Path:
    """Core's `merge` exporter: the adapter merged into its base model, written to
    --output_dir (or `<adapter>-merged` when other exporters follow, or no --output_dir)."""
    from rich.console import Console

    from tunekite.models.loader import load_model

    if len(run.adapters) != 1:
        raise ArgumentError(f"--merge_lora needs exactly one --adapters CHECKPOINT, got {len(run.adapters)}")
    follows = bool(run.components.get("exporters"))
    target = merged_folder(run.adapters[0], None if follows else run.groups["common"].output_dir)
    console = Console(stderr=True, highlight=False)
    quantized = checkpoint_args(run.adapters[0]).get("quant_method")
    if quantized:  # export takes no quantization group: the base always loads in full precision
        console.print(f"merging onto the full-precision base (the adapter was trained on a {quantized} base)")
    if tuner_adapter_loader(run.adapters[0], run.plugin_host) is not None:
        raise ArgumentError(
            f"--merge_lora: {run.adapters[0]} is not a peft adapter; its tuner's own adapter (ReFT's "
            "interventions) changes activations, not weights, so it cannot merge: use it with --adapters"
        )
    model, tokenizer = load_model(run)
    merge_and_save(
        apply_adapter(model, run.adapters[0]),
        tokenizer,
        target,
        safe_serialization=run.safe_serialization,
        max_shard_size=run.max_shard_size,
        run=run,
    )
    console.print(f"merged model: {target}")
    return target
