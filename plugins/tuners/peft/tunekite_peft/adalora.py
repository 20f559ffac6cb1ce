"""AdaLoRA's rank budget through a transformers callback: the real step count before
training, `update_and_allocate` after every optimizer step (peft's own training loop)."""

from __future__ import annotations

from typing import Any

from transformers import TrainerCallback

from tunekite.api import ArgumentError


def adalora_model(model: Any) -> Any:
    """The `AdaLoraModel` inside the trainer's model (a `PeftModel`)."""
    found = getattr(model, "base_model", model)
    if not hasattr(found, "update_and_allocate"):
        raise ArgumentError("--tuner adalora: the trained model has no AdaLoRA adapter to re-allocate")
    return found


class RankBudgetCallback(TrainerCallback):
    """Sets AdaLoRA's `total_step` to the trainer's `max_steps`, then re-allocates the rank
    budget after each optimizer step, while the gradients are still there."""

    def on_train_begin(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        adalora = adalora_model(model)
        config = adalora.peft_config[adalora.trainable_adapter_name]
        if config.tinit >= state.max_steps - config.tfinal:
            raise ArgumentError(
                f"--tuner adalora: adalora_tinit ({config.tinit}) + adalora_tfinal ({config.tfinal}) "
                f"leave no steps to re-allocate ranks in a {state.max_steps}-step run"
            )
        adalora.rankallocator.set_total_step(state.max_steps)

    def on_optimizer_step(
        self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any
    ) -> None:
        adalora_model(model).update_and_allocate(state.global_step)
