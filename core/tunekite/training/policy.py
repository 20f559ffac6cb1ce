"""The policy a trainer trains: the model and tokenizer, the template that renders its
data, and the tuner applied. Every trainer starts with the same two steps; between them
it prepares its data with the template."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Policy:
    """The model (tuned once `apply_tuner` ran), its tokenizer and template, and the dtype
    it was loaded in."""

    model: Any
    tokenizer: Any
    template: Any
    dtype: Any

    @property
    def dtype_name(self) -> str:
        """The dtype as args.json and transformers write it (`float32`)."""
        return str(self.dtype).removeprefix("torch.")


def load_policy(run: Any, *, padding_side: str | None = None) -> Policy:
    """The run's model and tokenizer (`--model`, ...) and template (`--template`, ...).
    `padding_side="left"` is for trainers that generate from prompts: the tokenizer pads
    on the left, with EOS as its pad token when it has none."""
    from tunekite.models.loader import load_model
    from tunekite.templates.resolve import build_template
    from tunekite.training.parallelism import before_model

    before_model(run)
    model, tokenizer = load_model(run)
    if padding_side is not None:
        tokenizer.padding_side = padding_side
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    template = build_template(
        tokenizer, run.groups["template"], run.model, run.model_type, host=run.plugin_host
    )
    return Policy(model, tokenizer, template, next(model.parameters()).dtype)


def apply_tuner(run: Any, policy: Policy, *, batches: Any = None) -> Any:
    """The selected tuner (`--tuner lora`, `full`, ...) applied to the policy's model, which
    it replaces and returns; a tuner that `uses_training_batches` also gets `batches` (a
    `TrainingBatches` of the training set, None from a trainer that gives none). LoRA's
    input dropout is fused into its `A` matrix (`tunekite.training.lean_dropout`), so
    backward does not keep a copy of each input, and its `B` product into the base
    layer's output (`tunekite.training.fused_lora`); gated MLPs keep two of their three
    intermediate tensors for backward (`tunekite.training.gated_mlp`), RMSNorms keep their
    input alone and take a closed-form backward (`tunekite.training.lean_rms_norm`), and
    norm outputs are recomputed in backward rather than kept (`tunekite.training.recompute`). With
    `--gradient_checkpointing` the input embeddings pass gradients on even when frozen, so
    adapters behind them still learn."""
    from tunekite.training.fused_lora import fuse_lora_forward
    from tunekite.training.gated_mlp import lean_gated_mlps
    from tunekite.training.lean_dropout import fuse_lora_dropout
    from tunekite.training.lean_rms_norm import lean_rms_norms
    from tunekite.training.recompute import recompute_norms

    tuner = run.component("tuners")
    given = {"batches": batches} if tuner.uses_training_batches else {}
    model = tuner.load()(policy.model, run.component_args(tuner), run.groups["tuner"], **given)
    fuse_lora_dropout(model)
    fuse_lora_forward(model)
    lean_gated_mlps(model)
    lean_rms_norms(model)
    recompute_norms(model)
    if run.gradient_checkpointing and hasattr(model, "enable_input_require_grads"):
        model.enable_input_require_grads()
    policy.model = model
    return model


def tuner_optimizer(run: Any) -> Any:
    """`make_optimizer(model)` of a tuner that brings its own optimizer (LoRA+), else None.
    Its result may be None too: the trainer then builds `--optim`."""
    from functools import partial

    tuner = run.component("tuners")
    if tuner.optimizer is None:
        return None
    return partial(tuner.load_optimizer(), args=run.component_args(tuner), run=run)
