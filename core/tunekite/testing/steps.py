"""Steps tuner tests share: a few SGD steps, eval logits, a full model's logits after
`save_pretrained` and a plain transformers load, training batches to initialise from, and
the logits and gradients of one backward pass (to compare a rewritten layer with peft's or
autograd's own)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def sgd_steps(model: Any, ids: Any, steps: int = 2, lr: float = 0.5) -> None:
    """`steps` SGD steps of the language-model loss on `ids`, over the trainable parameters."""
    import torch

    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        model(input_ids=ids, labels=ids).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def logits_and_grads(model: Any, embeds: Any, bf16: bool = False) -> tuple[Any, dict[str, Any]]:
    """The logits for input embeddings `embeds` (under bf16 autocast if `bf16`) and, after
    backward of their mean square, the gradient of `embeds` (`"inputs_embeds"`) and of
    every trainable parameter by name."""
    import torch

    embeds = embeds.detach().clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        out = model(inputs_embeds=embeds).logits
    out.float().pow(2).mean().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    return out, {"inputs_embeds": embeds.grad, **grads}


def assert_same_logits_and_grads(actual: Any, expected: Any, **grad_tolerance: float) -> None:
    """Two `logits_and_grads` results agree: the logits bitwise, the gradients by name,
    bitwise or, given `rtol` and `atol`, within them."""
    import torch

    (out, grads), (expected_out, expected_grads) = actual, expected
    assert torch.equal(out, expected_out)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        if grad_tolerance:
            torch.testing.assert_close(grad, expected_grads[name], msg=name, **grad_tolerance)
        else:
            assert torch.equal(grad, expected_grads[name]), name


def eval_logits(model: Any, ids: Any) -> Any:
    """The model's logits for `ids` in eval mode, without gradients."""
    import torch

    model.eval()
    with torch.no_grad():
        return model(input_ids=ids).logits


def reloaded_logits(model: Any, folder: Path, ids: Any) -> Any:
    """Saves `model` to `folder`, loads it back with plain `AutoModelForCausalLM`, and
    returns the loaded model's `eval_logits`."""
    from transformers import AutoModelForCausalLM

    model.save_pretrained(folder)
    return eval_logits(AutoModelForCausalLM.from_pretrained(folder), ids)


def training_batches(rows: int = 8, length: int = 12, vocab_size: int = 128, seed: int = 0) -> Any:
    """A `TrainingBatches` of `rows` random token rows, each trained on every token (what a
    tuner initialised from the training data gets from sft), for `tiny_causal_lm`."""
    import torch

    from tunekite.training.tuner_batches import TrainingBatches

    ids = torch.randint(1, vocab_size, (rows, length), generator=torch.Generator().manual_seed(seed))
    return TrainingBatches([{"input_ids": row, "labels": row} for row in ids.tolist()], pad_token_id=0)
