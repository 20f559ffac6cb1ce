"""pyreft interventions on a transformers model's decoder layers, as ms-swift applies them:
each chosen layer's output hidden states pass through its intervention at every position, so
the model's own forward, loss and `generate` run unchanged. Interventions are kept in
float32 whatever the model's dtype (pyreft's own loader rebuilds them in bfloat16 and then
fails on a float32 model), and saved as their config plus their weights."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError
from tunekite_reft.plugin import INSTALL

CONFIG_FILE = "reft_config.json"
WEIGHTS_FILE = "reft_interventions.safetensors"
DEFAULT_KWARGS = {"add_bias": False}
"""What pyreft's NoReFT and NodiReFT require and pyreft's examples pass; `--reft_args` overrides."""
ATTRIBUTE = "reft_intervention"
"""The decoder layer's submodule that holds its intervention (so it moves with the model)."""


def import_pyreft() -> Any:
    """pyreft, or one line naming how to install it. pyvene prints a notice about an optional
    backend to stdout on import; it is kept out of the run's output."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            import pyreft
    except ImportError as exc:
        missing = f"--tuner reft needs pyreft ({exc.name} is missing)"
        raise ArgumentError(f"{missing}: pip install {INSTALL}") from None
    return pyreft


def decoder_layers(model: Any) -> Any:
    """The model's list of decoder layers, or one line saying the model has none ReFT knows."""
    decoder = model.get_decoder() if hasattr(model, "get_decoder") else None
    layers = getattr(decoder, "layers", None)
    if layers is None:
        name = type(model).__name__
        raise ArgumentError(f"--tuner reft: {name} has no decoder layers (`model.layers`) to intervene on")
    return layers


def attach(model: Any, config: dict[str, Any]) -> list[Any]:
    """Add a fresh float32 intervention to each decoder layer `config["layers"]` names
    (all when empty), applied to the layer's output; returns them in layer order."""
    import torch

    intervention_class = getattr(import_pyreft(), config["intervention_type"])
    layers = decoder_layers(model)
    chosen = config["layers"] or list(range(len(layers)))
    beyond = [index for index in chosen if index >= len(layers)]
    if beyond:
        count = len(layers)
        raise ArgumentError(f"--reft_layers {beyond}: the model has {count} layers (0 to {count - 1})")
    hidden = model.config.get_text_config().hidden_size
    added = []
    for index in chosen:
        intervention = intervention_class(
            embed_dim=hidden,
            low_rank_dimension=config["rank"],
            dtype=torch.float32,
            **{**DEFAULT_KWARGS, **config["kwargs"]},
        ).to(next(model.parameters()).device)
        layers[index].add_module(ATTRIBUTE, intervention)
        layers[index].register_forward_hook(_intervene)
        added.append(intervention)
    return added


def _intervene(layer: Any, _inputs: Any, output: Any) -> Any:
    hidden = output[0] if isinstance(output, tuple) else output
    changed = getattr(layer, ATTRIBUTE)(hidden.float()).to(hidden.dtype)
    return (changed, *output[1:]) if isinstance(output, tuple) else changed


def save(model: Any, folder: str | Path, config: dict[str, Any]) -> None:
    """The interventions' config and weights (pyreft's compact per-intervention state dicts)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    layers = decoder_layers(model)
    tensors = {}
    for index in config["layers"] or range(len(layers)):
        for key, value in getattr(layers[index], ATTRIBUTE).state_dict().items():
            tensors[f"{index}.{key}"] = value.detach().contiguous().clone()
    save_file(tensors, str(folder / WEIGHTS_FILE))
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def load(model: Any, folder: str | Path) -> Any:
    """`model` with the interventions saved in `folder` attached, in evaluation mode."""
    from safetensors.torch import load_file

    folder = Path(folder)
    if not (folder / CONFIG_FILE).is_file():
        raise ArgumentError(f"--adapters {folder}: no {CONFIG_FILE}, so it holds no ReFT interventions")
    config = json.loads((folder / CONFIG_FILE).read_text(encoding="utf-8"))
    saved = load_file(str(folder / WEIGHTS_FILE))
    layers = decoder_layers(model)
    attach(model, config)
    for index in config["layers"] or range(len(layers)):
        prefix = f"{index}."
        state = {key[len(prefix) :]: value for key, value in saved.items() if key.startswith(prefix)}
        getattr(layers[index], ATTRIBUTE).load_state_dict(state)
    return model
