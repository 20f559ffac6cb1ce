"""Activations recomputed in backward from tensors backward keeps anyway.

A decoder layer's norm outputs feed the adapters (or trained weights) of q/k/v and of
gate/up, which keep them for their weight gradients, while the norm itself keeps its
input; a gated MLP's product `act(gate) * up` feeds `down_proj`'s, while the product keeps
`gate` and `up`. On SmolLM2-135M those three tensors are 576 + 576 + 1,536 floats per
layer and token (issue 19). Inside `recomputing()`, a tensor offered with
`recomputable(output, fn, *inputs)` is kept for backward as that recipe instead: its
inputs, which are kept anyway, and `fn`, run again (without gradients, under the same
autocast) when backward first needs the value; the consumers that share it share the
recomputed tensor, which is freed when the last of them is done. On the issue's bench
(SmolLM2-135M, LoRA, fp32, 12 steps, two runs each way) that lowered `tk run sft`'s peak
RSS from 2,870 to 2,418 MB at the same speed (the norms and products run once more, in
backward).

The recipe is used only while the offered tensor object is alive and unchanged, so a
tensor that later occupies its memory is never mistaken for it; an input changed in
place before backward is an error, as it is for autograd's own saved tensors. A
recomputed value has no history of its own, so a graph built inside `recomputing()`
supports one backward, not a double backward (`create_graph`).
"""

from __future__ import annotations

import contextlib
import contextvars
import weakref
from collections.abc import Callable, Iterator
from typing import Any

import torch

_OFFERS: contextvars.ContextVar[dict[int, tuple[Any, ...]] | None] = contextvars.ContextVar(
    "tunekite_recomputable", default=None
)
_NORM_SUFFIXES = ("RMSNorm", "LayerNorm")


class _Recipe:
    """`fn(*inputs)` as it was computed in forward, computed again on first use."""

    def __init__(self, fn: Callable[..., torch.Tensor], inputs: tuple[torch.Tensor, ...]) -> None:
        self.fn, self.inputs = fn, inputs
        self.versions = [t._version for t in inputs]
        device = inputs[0].device.type
        enabled = torch.is_autocast_enabled(device)
        self.autocast = (device, torch.get_autocast_dtype(device) if enabled else None, enabled)
        self.value: torch.Tensor | None = None

    def __call__(self) -> torch.Tensor:
        if self.value is None:
            if [t._version for t in self.inputs] != self.versions:
                raise RuntimeError(
                    "an input of an activation recomputed for backward was modified in place "
                    f"after forward ({self.fn!r}); run without it changing, or with "
                    "--gradient_checkpointing"
                )
            device, dtype, enabled = self.autocast
            with torch.no_grad(), torch.autocast(device, dtype=dtype, enabled=enabled):
                self.value = self.fn(*self.inputs)
        return self.value


def recomputable(output: torch.Tensor, fn: Callable[..., torch.Tensor], *inputs: torch.Tensor) -> None:
    """Offer `output`, equal to `fn(*inputs)`, to be recomputed rather than kept: a no-op
    outside `recomputing()` or without gradients. An output that needs none may still be
    kept (for a weight's gradient), so it is offered too."""
    offers = _OFFERS.get()
    if offers is None or not torch.is_grad_enabled():
        return
    offers[output.data_ptr()] = (weakref.ref(output), output._version, _Recipe(fn, inputs))


@contextlib.contextmanager
def recomputing() -> Iterator[None]:
    """Forward passes inside keep offered activations as recipes (see the module's
    docstring); backward may run outside. Inert under another saved-tensor hook (the
    inner one applies), e.g. gradient checkpointing's."""
    offers: dict[int, tuple[Any, ...]] = {}

    def pack(tensor: torch.Tensor) -> Any:
        entry = offers.get(tensor.data_ptr()) if tensor.layout is torch.strided else None
        if entry is None:
            return tensor
        ref, version, recipe = entry
        offered = ref()
        if offered is None or tensor._version != version or tensor.dtype != offered.dtype:
            return tensor
        same = (tensor.shape, tensor.stride()) == (offered.shape, offered.stride())
        # or a contiguous view of another shape, e.g. linear's flattened input
        reshaped = tensor.numel() == offered.numel() and tensor.is_contiguous() and offered.is_contiguous()
        return (recipe, tensor.shape) if same or reshaped else tensor

    def unpack(packed: Any) -> torch.Tensor:
        if not isinstance(packed, tuple):
            return packed
        recipe, shape = packed
        return recipe().reshape(shape)

    token = _OFFERS.set(offers)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            yield
    finally:
        _OFFERS.reset(token)
        offers.clear()


def _offer_norm_output(
    module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any
) -> None:
    """Offers a norm's output when it was called on one tensor alone (a conditional norm's
    second input, or a fused residual, is not in the recipe)."""
    tensors = len(args) == 1 and isinstance(args[0], torch.Tensor) and isinstance(output, torch.Tensor)
    if tensors and not kwargs:
        recomputable(output, module, args[0])


def recompute_norms(model: torch.nn.Module) -> int:
    """Offer the output of every RMSNorm and LayerNorm of `model` (torch's, or a class so
    named) for recomputation from its input; returns how many were hooked."""
    hooked = 0
    for module in model.modules():
        if type(module).__name__.endswith(_NORM_SUFFIXES) and not list(module.children()):
            module.register_forward_hook(_offer_norm_output, with_kwargs=True)
            hooked += 1
    return hooked
