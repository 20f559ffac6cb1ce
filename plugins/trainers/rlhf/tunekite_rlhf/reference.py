"""The frozen reference policy of dpo, kto and ppo."""

from __future__ import annotations

import dataclasses
from typing import Any


def load_reference(run: Any, model: Any) -> Any:
    """None with an adapter tuner and no `--ref_model`: the reference is the base with its
    adapters disabled, no second copy in memory. Otherwise a frozen model on the policy's
    device: `--ref_model` (with `--ref_model_type`/`--ref_model_revision`), else a second
    copy of `--model`."""
    from peft import PeftModel

    from tunekite.api import load_model

    args = run.component_args(run.spec)
    if args.ref_model is None and isinstance(model, PeftModel):
        return None
    margs = run.groups["model"]
    if args.ref_model is not None:
        margs = dataclasses.replace(
            margs,
            model=args.ref_model,
            model_type=args.ref_model_type,
            model_revision=args.ref_model_revision,
        )
    reference, _ = load_model(margs, host=run.plugin_host, max_length=run.max_length)
    reference.to(next(model.parameters()).device)
    reference.eval()
    reference.requires_grad_(False)
    return reference
