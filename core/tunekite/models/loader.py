"""Load a model and its tokenizer: pick the spec for `--model`, then build both.

Everything takes either a resolved `Run` or just its `ModelArguments`, so recipes,
tasks, plugins and tests share one path. torch and transformers are imported inside
the functions: importing this module stays cheap.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.arguments.groups import ModelArguments
from tunekite.distributed import local_main_first
from tunekite.errors import ArgumentError, TunekiteError
from tunekite.models.quantize import quantization_kwargs
from tunekite.models.resolve import resolve_model_spec
from tunekite.plugin_host import PluginHost
from tunekite.registrations import ModelSpec

if TYPE_CHECKING:
    from tunekite.launcher import Run

_ATTN_IMPLS = {"flash_attn": "flash_attention_2"}
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")


def model_arguments(args: Run | ModelArguments) -> ModelArguments:
    """The `ModelArguments` of a run, or the argument group itself."""
    if isinstance(args, ModelArguments):
        return args
    groups = getattr(args, "groups", None)
    if isinstance(groups, dict) and isinstance(groups.get("model"), ModelArguments):
        return groups["model"]
    raise TypeError(f"expected a Run with a model group or ModelArguments, got {type(args).__name__}")


def plugin_host_of(args: Run | ModelArguments, host: PluginHost | None) -> PluginHost:
    """The host whose model loaders resolve `--model`: `host`, else the run's own."""
    found = host or getattr(args, "plugin_host", None)
    if found is None:
        raise TypeError("bare ModelArguments need host=: the PluginHost whose model loaders resolve --model")
    return found


def load_model(
    args: Run | ModelArguments,
    *,
    host: PluginHost | None = None,
    max_length: int | None = None,
    **from_pretrained_kwargs: Any,
) -> tuple[Any, Any]:
    """Load `(model, tokenizer)` through the spec that handles `--model` / `--model_type`,
    looked up in the run's plugin host (`host=` with bare `ModelArguments`).

    `max_length` (default: the run's `--max_length`) sizes `--rope_scaling linear|dynamic`;
    `from_pretrained_kwargs` (e.g. `quantization_config`) go to the factory, after those of
    the quantizer the run selects (`--quant_method`, see `tk_register_quantizers`).
    """
    from_pretrained_kwargs = {**quantization_kwargs(args), **from_pretrained_kwargs}
    margs = model_arguments(args)
    if max_length is None:
        template = getattr(args, "groups", {}).get("template")
        max_length = getattr(template, "max_length", None)
    spec = resolve_model_spec(margs.model, margs.model_type, host=plugin_host_of(args, host))
    with local_main_first():  # under torchrun one rank per machine converts a GGUF file, the others reuse it
        folder = _spec_folder(spec, margs)
    if folder is not None:
        margs = dataclasses.replace(margs, model=str(folder))
    if spec.trust_remote_code:
        from_pretrained_kwargs.setdefault("trust_remote_code", True)
    return spec.load()(margs, max_length=max_length, **from_pretrained_kwargs)


def model_folder(args: Run | ModelArguments, *, host: PluginHost | None = None) -> Path | None:
    """The local Hugging Face folder the model loads from (downloading a hub id, converting
    a GGUF file), or None for a spec whose factory builds the model some other way."""
    margs = model_arguments(args)
    spec = resolve_model_spec(margs.model, margs.model_type, host=plugin_host_of(args, host))
    folder = _spec_folder(spec, margs)
    if folder is not None:
        return Path(folder)
    if spec.load() is load_hf:
        return local_model_path(margs.model, revision=margs.model_revision, token=margs.hub_token)
    return None


def load_tokenizer(args: Run | ModelArguments, *, host: PluginHost | None = None) -> Any:
    """Only the tokenizer: read from the model folder without touching the weights (for
    templates and data preparation); falls back to the spec's factory when there is no folder."""
    folder = model_folder(args, host=host)
    if folder is None:
        return load_model(args, host=host)[1]
    margs = model_arguments(args)
    spec = resolve_model_spec(margs.model, margs.model_type, host=plugin_host_of(args, host))
    return _tokenizer(folder, spec.trust_remote_code)


def _spec_folder(spec: ModelSpec, margs: ModelArguments) -> Path | None:
    resolve_folder = spec.load_folder()
    return None if resolve_folder is None else Path(resolve_folder(margs.model or spec.name))


def local_model_path(model: str | None, *, revision: str | None = None, token: str | None = None) -> Path:
    """An existing local model folder, or a hub id downloaded with `snapshot_download`.

    Offline (`HF_HUB_OFFLINE=1`, or the hub unreachable) only the Hugging Face cache is
    used, and a miss is an error that names the id and asks for a local folder.
    """
    if not model:
        raise ArgumentError("No model given: pass --model with a model folder, hub id or registered name.")
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise TunekiteError(f"{model!r} has no config.json: it is not a Hugging Face model folder.")
        return path
    if path.exists():
        raise TunekiteError(
            f"--model {model!r} is a file, but the Hugging Face loader needs a model folder with "
            f"config.json, and no installed model loader claims {path.suffix or 'such'} files "
            "(`tk list models` shows what is installed)."
        )
    if not _HUB_ID.fullmatch(model):
        raise TunekiteError(f"Model folder {model!r} does not exist ({path.absolute()}).")
    return _download(model, revision, token)


def _download(model: str, revision: str | None, token: str | None) -> Path:
    from huggingface_hub import constants, snapshot_download

    offline = constants.is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").upper() in {
        "1",
        "ON",
        "YES",
        "TRUE",
    }
    try:
        return Path(snapshot_download(model, revision=revision, token=token, local_files_only=offline))
    except (OSError, ValueError) as exc:
        why = (
            "hub access is off (HF_HUB_OFFLINE) and it is not in the Hugging Face cache"
            if offline
            else f"downloading it from the Hugging Face hub failed: {str(exc).splitlines()[0]}"
        )
        raise TunekiteError(
            f"Model {model!r} is not a local folder, and {why}. Pass a local model folder "
            f"(--model /path/to/{model.rsplit('/', 1)[-1]}) or a registered model name (`tk list models`)."
        ) from None


def load_hf(
    args: ModelArguments, *, max_length: int | None = None, **from_pretrained_kwargs: Any
) -> tuple[Any, Any]:
    """The `hf` factory: a Hugging Face folder or hub id, with every model argument applied.

    - torch_dtype: None keeps config.json's dtype; a value is used as given (float16 on a
      CPU is slow and overflows easily; bfloat16 is the half precision to use there).
    - attn_impl: None lets transformers pick sdpa where the model supports it.
    - device_map: None places the model on the GPU(s) when CUDA is present (one per rank
      under torchrun) and leaves it on the CPU otherwise.
    - model_kwargs: keys the config has are set on it (e.g. {"use_cache": false}); the
      others go to `from_pretrained`.
    """
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSequenceClassification

    path = local_model_path(args.model, revision=args.model_revision, token=args.hub_token)
    trust = bool(from_pretrained_kwargs.get("trust_remote_code"))
    tokenizer = _tokenizer(path, trust)
    config = AutoConfig.from_pretrained(path, trust_remote_code=trust)
    if args.rope_scaling:
        _apply_rope_scaling(config, args.rope_scaling, max_length)
    kwargs: dict[str, Any] = {"dtype": getattr(torch, args.torch_dtype) if args.torch_dtype else "auto"}
    if args.attn_impl:
        kwargs["attn_implementation"] = _ATTN_IMPLS.get(args.attn_impl, args.attn_impl)
    device_map = _device_map(args.device_map)
    if device_map is not None:
        kwargs["device_map"] = device_map
        if args.max_memory:
            kwargs["max_memory"] = {int(k) if str(k).isdigit() else k: v for k, v in args.max_memory.items()}
    for key, value in (args.model_kwargs or {}).items():
        if hasattr(config, key):
            setattr(config, key, value)
        else:
            kwargs[key] = value
    auto: Any = AutoModelForCausalLM
    if args.task_type == "seq_cls":
        if not args.num_labels:
            raise ArgumentError("--task_type seq_cls needs --num_labels (the number of classes).")
        config.num_labels = args.num_labels
        if config.pad_token_id is None:  # batched classification finds the last token by padding
            config.pad_token_id = tokenizer.pad_token_id
        auto = AutoModelForSequenceClassification
    kwargs.update(from_pretrained_kwargs)  # a quantizer's device_map replaces the default one
    model = auto.from_pretrained(path, config=config, **kwargs)
    return model, tokenizer


def _tokenizer(path: str | Path, trust_remote_code: bool = False) -> Any:
    """The folder's tokenizer; one without a pad token pads with eos, as batching needs one."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _apply_rope_scaling(config: Any, value: str, max_length: int | None) -> None:
    """`linear`/`dynamic` scale RoPE by max_length / max_position_embeddings (nothing to do
    when max_length fits); a JSON object is merged into the config's rope parameters as is."""
    if value.lstrip().startswith("{"):
        params = json.loads(value)
        if "type" in params:
            params["rope_type"] = params.pop("type")
    elif value in ("linear", "dynamic"):
        if not max_length:
            raise ArgumentError(f"--rope_scaling {value} needs --max_length, the context to scale to.")
        base = config.max_position_embeddings
        if max_length <= base:
            return
        params = {"rope_type": value, "factor": max_length / base}
    else:
        raise ArgumentError(f"--rope_scaling must be linear, dynamic or a JSON object, got {value!r}.")
    config.rope_parameters = {**(getattr(config, "rope_parameters", None) or {}), **params}


def _device_map(value: str | None) -> Any:
    if value is None:
        import torch

        if not torch.cuda.is_available():
            return None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return {"": int(os.environ.get("LOCAL_RANK", "0"))}
        return "auto"
    if value.lstrip().startswith("{"):
        return json.loads(value)
    if value.endswith(".json"):
        try:
            return json.loads(Path(value).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArgumentError(f"--device_map {value!r}: {exc}") from None
    return value
