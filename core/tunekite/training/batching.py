"""How sft batches samples when the user does not say: the fastest correct path per device.

Measured (issue 19): on a CPU, padding-free rows beat padded batches by ~1.4x at an
identical per-token loss, because no multiply touches a pad; on a CUDA GPU a small model
is bound by per-step overhead, and padded batches of similar length were fastest there.
Length grouping only pays where there is padding to save: with padding-free rows it
does no less work, makes the longest batches longer (a higher memory peak, and
attention over the whole row grows with its square) and puts the longest samples first,
so it is on by default only for padded batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunekite.errors import ArgumentError


@dataclass(frozen=True)
class BatchPlan:
    padding_free: bool
    group_by_length: bool
    why: str
    chunk_tokens: int | None = None

    def describe(self) -> str:
        rows = "padding-free rows" if self.padding_free else "padded batches"
        if self.chunk_tokens is not None:
            rows += f" trained in chunks of up to {self.chunk_tokens} tokens"
        order = "grouped by length" if self.group_by_length else "in random order"
        return f"{rows}, {order} ({self.why})"


def choose_batching(training: Any, *, packing: bool, model: Any, groupable: bool) -> BatchPlan:
    """`--padding_free` / `--group_by_length` as given, else the device's fast path.

    `training` is core's training group; `groupable` says whether the dataset has the
    `length` column a length-grouped sampler reads (not lazy, not streamed).
    """
    padding_free, why = training.padding_free, "as asked"
    if packing:
        padding_free, why = True, "--packing"
    elif padding_free is None:
        padding_free, why = _device_default(training, model)
    group = training.group_by_length
    if group is None:
        group = groupable and not padding_free
    chunk = training.padding_free_chunk_tokens
    if chunk is not None and (chunk < 1 or not padding_free):
        problem = f"batches are padded ({why}), set --padding_free true" if chunk >= 1 else "must be >= 1"
        raise ArgumentError(f"--padding_free_chunk_tokens {chunk}: {problem}")
    return BatchPlan(padding_free, group, why, chunk)


def _device_default(training: Any, model: Any) -> tuple[bool, str]:
    import torch

    if torch.cuda.is_available() and not training.use_cpu:
        return False, "GPU default; --padding_free true to concatenate"
    if not isolates_packed_samples(model):
        return False, "CPU, but this model's attention cannot keep packed samples apart, so padded"
    return True, "CPU default; --padding_free false to pad"


def isolates_packed_samples(model: Any) -> bool:
    """Whether the model, called the way `PaddingFreeCollator`'s rows call it (restarting
    `position_ids`, no mask, no cache), keeps each sample from attending to the one
    before: the logits of a second sample must not change when the first one does.
    Adapters that put learned tokens before the input (prompt/P-tuning) never qualify:
    only the first sample of a row would see them."""
    import torch

    config = getattr(model, "active_peft_config", None)
    if config is not None and str(getattr(config.peft_type, "value", "")) in ("PROMPT_TUNING", "P_TUNING"):
        return False
    device = next(model.parameters()).device
    second = [5, 6, 7]
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2]], device=device)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            logits = [
                model(
                    input_ids=torch.tensor([first + second], device=device),
                    position_ids=positions,
                    use_cache=False,
                )
                .logits[0, -len(second) :]
                .float()
                for first in ([1, 2, 3, 4], [4, 3, 2, 1])
            ]
    except Exception:  # a model that cannot take this call at all cannot take packed rows
        return False
    finally:
        model.train(was_training)
    return torch.equal(logits[0], logits[1])
