"""`--quant_method NAME`: the selected quantizer's `from_pretrained` keyword arguments."""

from __future__ import annotations

from typing import Any

from tunekite.arguments.fields import fields_of
from tunekite.errors import ArgumentError, TunekiteError, UnknownNameError
from tunekite.plugin_host import PluginHost


def quantizer_key(name: str) -> str:
    """The run group that holds quantizer `name`'s own arguments."""
    return f"quantizers:{name}"


def quantization_kwargs(run: Any) -> dict[str, Any]:
    """What the run's quantizer adds to `from_pretrained`; {} when the run (or bare
    `ModelArguments`) asks for no quantization."""
    groups = getattr(run, "groups", None)
    quant = groups.get("quantization") if isinstance(groups, dict) else None
    if quant is None:
        return {}
    if quant.quant_method is None:
        if quant.quant_bits is not None:
            raise ArgumentError(f"--quant_bits {quant.quant_bits} needs --quant_method (e.g. bnb)")
        return {}
    spec = quantizer_spec(quant.quant_method, run.plugin_host)
    args = groups.get(quantizer_key(spec.name))
    kwargs = spec.load()(args if args is not None else spec.default_args(), run)
    if not isinstance(kwargs, dict):
        raise TunekiteError(
            f"quantizer {spec.name!r} returned {type(kwargs).__name__}; it must return a dict of "
            "from_pretrained keyword arguments"
        )
    return kwargs


def quantizer_spec(name: str, host: PluginHost) -> Any:
    try:
        return host.registry("quantizers").get(name)
    except UnknownNameError as exc:
        raise ArgumentError(f"--quant_method: {exc}") from None


def inherit_quantizer(groups: dict[str, Any], saved: dict[str, Any], host: PluginHost) -> None:
    """Add the argument group of a quantizer that a checkpoint's args.json selected (the
    run was parsed before that selection was known), filled with the saved values."""
    quant = groups.get("quantization")
    if quant is None or quant.quant_method is None:
        return
    spec = quantizer_spec(quant.quant_method, host)
    key = quantizer_key(spec.name)
    if spec.args is None or key in groups:
        return
    values = {f.name: f.convert(saved[f.name], "args.json") for f in fields_of(spec.args) if f.name in saved}
    groups[key] = spec.args(**values)
