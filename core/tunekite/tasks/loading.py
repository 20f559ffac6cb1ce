"""A trained model ready to use: base model, adapters, template, and merging into a folder.

A checkpoint describes itself through the `args.json` its run wrote, so
`--adapters CKPT` alone is enough: the base model, template and system prompt come
from there (ms-swift's `--load_args`, on by default for infer and export).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.arguments.parser import ARGS_FILE, META_KEY, read_args_json
from tunekite.constants import DEFAULT_ADAPTER
from tunekite.errors import ArgumentError, UnknownNameError
from tunekite.models.loader import load_model
from tunekite.models.quantize import inherit_quantizer
from tunekite.models.resolve import resolve_model_spec
from tunekite.plugin_host import PluginHost
from tunekite.templates.resolve import build_template
from tunekite.tuners import ADAPTER_CONFIG, apply_adapter

if TYPE_CHECKING:
    from tunekite.launcher import Run

INHERITED_GROUPS = ("model", "template", "quantization")
"""Groups whose unset (None) values a checkpoint's args.json fills; data and generation
settings are never inherited (ms-swift's rule)."""


def checkpoint_args(folder: str | Path) -> dict[str, Any]:
    """The args.json of a checkpoint: its own, or its run folder's; {} without one."""
    folder = Path(folder)
    for candidate in (folder / ARGS_FILE, folder.parent / ARGS_FILE):
        if candidate.is_file():
            return read_args_json(str(candidate))[1]
    return {}


def _check_installed(template: str, checkpoint: str | Path, host: PluginHost) -> None:
    try:
        host.registry("templates").get(template)
    except UnknownNameError as exc:
        where = f"{checkpoint} was trained with template {template!r} (its args.json)"
        raise ArgumentError(f"{where}: {exc}") from None


def with_checkpoint_args(run: Run) -> Run:
    """The run with unset model/template values taken from the checkpoint's args.json (the
    first `--adapters` folder, else a local `--model` folder); `use_chat_template` is taken
    too while left at its default, since a `pt` run trains without one."""
    adapters = run.groups["adapters"].adapters
    model = run.groups["model"].model
    folders = [path for _, path in parse_adapters(adapters)]
    for path in folders:
        if not Path(path).is_dir():
            raise ArgumentError(f"--adapters {path}: no such folder")
    source = folders[0] if folders else model if model and Path(model).is_dir() else None
    saved = checkpoint_args(source) if source else {}
    groups = dict(run.groups)
    for key in INHERITED_GROUPS:
        if key not in groups:
            continue
        current = groups[key]
        fill = {
            f.name: saved[f.name]
            for f in dataclasses.fields(current)
            if saved.get(f.name) is not None
            and (
                getattr(current, f.name) is None
                or (f.name == "use_chat_template" and current.use_chat_template)
            )
        }
        groups[key] = dataclasses.replace(current, **fill)
    recorded = saved.get("template")  # a checkpoint records the template it resolved
    if source and recorded and "template" in run.groups and run.groups["template"].template is None:
        _check_installed(recorded, source, run.plugin_host)
    inherit_quantizer(groups, saved, run.plugin_host)
    if not groups["model"].model:
        where = f"{folders[0]} has no args.json naming it" if folders else "none was given"
        raise ArgumentError(f"No base model: {where}. Pass --model (a folder, hub id or registered name).")
    resolve_model_spec(groups["model"].model, groups["model"].model_type, host=run.plugin_host)  # its plugin
    return dataclasses.replace(run, groups=groups)


def parse_adapters(entries: list[str]) -> list[tuple[str | None, str]]:
    """`--adapters` entries as (name, folder): `name=path` names an adapter served under its
    own name (ms-swift's deploy syntax); a plain path has no name."""
    parsed = []
    for entry in entries:
        name, sep, path = entry.partition("=")
        if sep and name and not Path(entry).exists():
            parsed.append((name, path))
        else:
            parsed.append((None, entry))
    return parsed


def named_adapters(entries: list[str]) -> dict[str, str]:
    """`--adapters` as {name: folder}, for engines that serve every adapter by name (vLLM,
    LMDeploy): `name=path` keeps its name, a lone unnamed path is `default` (peft's name),
    further unnamed ones are named after their folder."""
    named: dict[str, str] = {}
    for name, path in parse_adapters([str(e) for e in entries]):
        if name is None:
            name = DEFAULT_ADAPTER if not named else Path(path.rstrip("/")).name
        if name in named:
            raise ArgumentError(f"--adapters: two adapters are named {name!r}; use name=path")
        named[name] = path
    return named


def load_for_inference(run: Run) -> tuple[Any, Any, Any]:
    """`(model, tokenizer, template)` for a run already passed through `with_checkpoint_args`:
    the base model with its LoRA adapters applied (a `peft.PeftModel`). A plain adapter path
    is the active adapter; `name=path` adapters are loaded next to it under their names."""
    model, tokenizer = load_model(run)
    adapters = parse_adapters(run.groups["adapters"].adapters)
    plain = [path for name, path in adapters if name is None]
    if len(plain) > 1:
        raise ArgumentError(f"--adapters: one adapter at a time is supported, got {len(plain)}")
    for name, path in sorted(adapters, key=lambda a: a[0] is not None):
        loader = tuner_adapter_loader(path, run.plugin_host)
        if loader is None:
            model = apply_adapter(model, path, name or DEFAULT_ADAPTER)
        elif len(adapters) > 1:
            raise ArgumentError(f"--adapters {path}: loads alone, not with {len(adapters) - 1} others")
        else:
            model = loader(model, path)
    margs = run.groups["model"]
    template = build_template(
        tokenizer, run.groups["template"], margs.model, margs.model_type, host=run.plugin_host
    )
    return model, tokenizer, template


def tuner_adapter_loader(folder: str, host: PluginHost) -> Any:
    """The `adapter_loader` of the tuner that `folder`'s args.json records (ReFT), or None:
    peft loads it. The tuner's plugin must be installed to read what it saved."""
    file = Path(folder) / ARGS_FILE
    if not file.is_file():
        return None
    saved = json.loads(file.read_text(encoding="utf-8")).get(META_KEY, {})
    tuner = saved.get("checkpoint", {}).get("tuner", {}).get("name")
    tuners = host.registry("tuners")
    if tuner in tuners:
        return tuners.get(tuner).load_adapter_loader()
    if not tuner or (Path(folder) / ADAPTER_CONFIG).is_file():
        return None
    try:
        tuners.get(tuner)
    except UnknownNameError as exc:
        where = f"--adapters {folder} was trained with tuner {tuner!r} (its args.json)"
        raise ArgumentError(f"{where}: {exc}") from None
    return None


def merged_folder(adapter: str, output_dir: str | None = None) -> Path:
    """Where a merged model goes: `output_dir`, else ms-swift's `<adapter>-merged`."""
    return Path(output_dir) if output_dir else Path(f"{str(adapter).rstrip('/')}-merged")


def is_written(folder: Path) -> bool:
    """Whether `folder` holds anything besides an args.json (an earlier merge, say)."""
    return folder.is_dir() and bool(set(os.listdir(folder)) - {ARGS_FILE})


def merge_refusal(model: Any) -> str | None:
    """Why the model's adapter cannot be merged into its weights, or None when peft can merge
    it: prompt, prefix and P-tuning learn virtual tokens, not weight changes."""
    configs = getattr(model, "peft_config", None)
    if not configs:
        return (
            "--merge_lora needs a peft adapter in --adapters: there is none to merge (a tuner's own "
            "adapter, like ReFT's interventions, changes activations, not weights)"
        )
    config = configs[model.active_adapter]
    method = getattr(config.peft_type, "value", config.peft_type)
    if config.is_prompt_learning:
        return (
            f"--merge_lora: a {method} adapter learns virtual tokens, not weight changes, so there is "
            "nothing to merge; use it unmerged with --adapters"
        )
    if not hasattr(model.base_model, "merge_and_unload"):
        return f"--merge_lora: peft cannot merge {method} adapters; use it unmerged with --adapters"
    return None


def merge_and_save(
    model: Any,
    tokenizer: Any,
    target: Path,
    *,
    safe_serialization: bool = True,
    max_shard_size: str = "5GB",
    run: Run | None = None,
) -> Any:
    """Merge the adapter into the weights and write a standalone transformers folder (weights,
    config, generation config, tokenizer, and the `run`'s args.json when given), returning the merged
    model. Written next to `target` and renamed into place, so a crash leaves no half folder;
    a target holding more than the args.json `tk run` wrote there is never overwritten."""
    why = merge_refusal(model)
    if why is not None:
        raise ArgumentError(why)
    if not safe_serialization:
        raise ArgumentError("--safe_serialization false: transformers 5 writes only safetensors")
    if is_written(target):
        raise ArgumentError(f"{target} already exists and is not empty; remove it or pass --output_dir")
    merged = model.merge_and_unload()
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        merged.save_pretrained(staging, max_shard_size=max_shard_size)
        tokenizer.save_pretrained(staging)
        if run is not None:
            from tunekite.run_folder import write_args

            write_args(run, staging)
        if target.exists():
            shutil.rmtree(target)  # only the args.json `tk run` wrote there
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return merged
