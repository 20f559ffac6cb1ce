"""Cross-entropy through the vocabulary projection, a chunk of tokens at a time, without
ever holding the logits of all trained tokens.

A plain `cross_entropy(lm_head(hidden))` keeps the (tokens x vocabulary) logits, their
float copy and, in backward, their gradient: at 49,152 entries per token that is 0.6 MB
per trained token per copy, the largest tensors of a small model's step. Here forward
computes each chunk's logits, its losses, its argmax and, while the chunk is at hand, the
gradient of each token's loss with respect to its hidden state (`(softmax - onehot) @ W`,
one row per token); backward scales those rows by the incoming per-token gradient. Only
when the projection's weight itself trains (full fine-tuning, a tied embedding that
trains) does backward compute the chunk's logits again for the weight's gradient. The
logits are computed in the hidden states' dtype (bf16 under bf16 weights or autocast)
and the loss from them in float32, as the unfused path does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

from tunekite.constants import IGNORE_INDEX

CHUNK_ELEMENTS = 2**23  # logits per chunk: 32 MB in float32, ~170 tokens of a 49k vocabulary


class _ChunkedLinearCrossEntropy(torch.autograd.Function):
    """Per-token `cross_entropy(hidden @ weight.T + bias, target)` (0 where the target is
    ignored) and each token's argmax; differentiable in `hidden`, `weight` and `bias`."""

    @staticmethod
    def forward(
        ctx: Any, hidden: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        chunk = max(1, CHUNK_ELEMENTS // weight.shape[0])
        losses = torch.empty(hidden.shape[0], dtype=torch.float32, device=hidden.device)
        predicted = torch.empty(hidden.shape[0], dtype=torch.long, device=hidden.device)
        grad_hidden = torch.empty_like(hidden, dtype=torch.float32) if ctx.needs_input_grad[0] else None
        for start in range(0, hidden.shape[0], chunk):
            rows = slice(start, start + chunk)
            logits = torch.nn.functional.linear(hidden[rows], weight, bias).float()
            predicted[rows] = logits.argmax(-1)
            losses[rows], grad_logits = _losses_and_gradient(logits, target[rows])
            if grad_hidden is not None:
                grad_hidden[rows] = grad_logits.to(weight.dtype) @ weight
        ctx.save_for_backward(hidden, weight, bias, target, grad_hidden)
        ctx.mark_non_differentiable(predicted)
        return losses, predicted

    @staticmethod
    def backward(
        ctx: Any, grad_losses: torch.Tensor, _grad_predicted: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None, None]:
        hidden, weight, bias, target, grad_hidden = ctx.saved_tensors
        per_token = grad_losses.float().unsqueeze(-1)
        grad_h = (grad_hidden * per_token).to(hidden.dtype) if grad_hidden is not None else None
        grad_w = grad_b = None
        if ctx.needs_input_grad[1] or ctx.needs_input_grad[2]:
            grad_w = torch.zeros_like(weight, dtype=torch.float32)
            grad_b = torch.zeros_like(bias, dtype=torch.float32) if bias is not None else None
            chunk = max(1, CHUNK_ELEMENTS // weight.shape[0])
            for start in range(0, hidden.shape[0], chunk):
                rows = slice(start, start + chunk)
                logits = torch.nn.functional.linear(hidden[rows], weight, bias).float()
                grad_logits = _losses_and_gradient(logits, target[rows])[1] * per_token[rows]
                grad_w += grad_logits.T @ hidden[rows].float()
                if grad_b is not None:
                    grad_b += grad_logits.sum(0)
            grad_w = grad_w.to(weight.dtype)
            grad_b = grad_b.to(bias.dtype) if grad_b is not None else None
        return grad_h, grad_w, grad_b, None


def _losses_and_gradient(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row's cross-entropy (0 where ignored) and its gradient with respect to the
    row's logits, softmax minus the one-hot target (0 where ignored), written over
    `logits` (float32) so a chunk needs one vocabulary-wide buffer."""
    kept = (target != IGNORE_INDEX).nonzero().squeeze(-1)
    normalizer = torch.logsumexp(logits, dim=-1, keepdim=True)
    losses = torch.zeros(logits.shape[0], dtype=torch.float32, device=logits.device)
    losses[kept] = normalizer[kept, 0] - logits[kept, target[kept]]
    grad = logits.sub_(normalizer).exp_()
    grad[kept, target[kept]] -= 1.0
    grad[target == IGNORE_INDEX] = 0.0
    return losses, grad


def linear_cross_entropy(
    hidden: torch.Tensor, head: torch.nn.Module, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses (float32) and argmax predictions of `head(hidden)` against `target`
    (`hidden` is (tokens, d), `head` a `torch.nn.Linear`), chunked as this module says.
    Under autocast the projection runs in the autocast dtype, as `head(hidden)` would."""
    weight, bias = head.weight, head.bias
    device = hidden.device.type
    if torch.is_autocast_enabled(device):
        dtype = torch.get_autocast_dtype(device)
        hidden, weight = hidden.to(dtype), weight.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
    else:
        hidden = hidden.to(weight.dtype)
    with torch.autocast(device, enabled=False):
        return _ChunkedLinearCrossEntropy.apply(hidden, weight, bias, target)


def fusable_head(model: Any) -> torch.nn.Linear | None:
    """The model's vocabulary projection when the chunked loss can stand in for it: a plain
    `nn.Linear` (not a LoRA-adapted or `modules_to_save` head) whose output the model's
    forward returns as its logits up to what commutes with it (a scale factor), which a
    two-call probe checks (a model that soft-caps its logits, as Gemma 2 does, does not
    qualify); else None."""
    getter = getattr(model, "get_output_embeddings", None)
    head = getter() if getter is not None else None
    if type(head) is not torch.nn.Linear:
        return None
    device = head.weight.device
    ids = torch.tensor([[1, 2, 3, 4]], device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits
            with hidden_states_as_logits(head):
                hidden = model(input_ids=ids, use_cache=False).logits
            return head if torch.equal(head(hidden.to(head.weight.dtype)).to(logits.dtype), logits) else None
    except Exception:  # a model that cannot take this call keeps the unfused loss
        return None
    finally:
        model.train(was_training)


@contextmanager
def hidden_states_as_logits(head: torch.nn.Module) -> Iterator[None]:
    """Within this block `head` passes its input through, so the model returns the final
    hidden states where it would return logits (at `logits_to_keep` positions only)."""
    head.forward = _passthrough
    try:
        yield
    finally:
        del head.forward


def _passthrough(hidden: torch.Tensor) -> torch.Tensor:
    return hidden
