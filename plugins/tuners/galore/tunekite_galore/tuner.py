"""Every weight trainable, and galore-torch's optimizer with the target weights in a
projected parameter group (the groups transformers' `galore_adamw` optimizers build)."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError
from tunekite_galore.plugin import GaloreArguments

PROJECTED_OPTIMIZERS = {"adamw": "GaLoreAdamW", "adafactor": "GaLoreAdafactor"}
"""`--optim` family -> galore-torch class; GaLore exists for these two."""


def prepare(model: Any, args: GaloreArguments, common: Any) -> Any:
    """The model with every parameter trainable: GaLore saves optimizer memory, not weights."""
    model.requires_grad_(True)
    return model


def projected_names(model: Any, args: GaloreArguments) -> list[str]:
    """Names of the weights whose gradients are projected: the linear layers named by
    `galore_target_modules` (every linear but the output head when empty), plus the input
    and output embeddings with `galore_with_embedding`."""
    import torch

    head, embed = model.get_output_embeddings(), model.get_input_embeddings()
    wanted = tuple(args.galore_target_modules)
    names = [
        f"{name}.weight"
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and module is not head
        and (not wanted or name.rsplit(".", 1)[-1] in wanted or name in wanted)
    ]
    if args.galore_with_embedding:
        names += [f"{name}.weight" for name, module in model.named_modules() if module in (embed, head)]
    if not names:
        raise ArgumentError(f"--galore_target_modules {' '.join(wanted)} names no linear layer of the model")
    return sorted(set(names))


def optimizer_family(optim: str) -> str:
    """The `PROJECTED_OPTIMIZERS` key for `--optim`, refusing what GaLore has no variant of."""
    if "8bit" in optim:
        raise ArgumentError(
            f"--tuner galore with --optim {optim}: GaLoreAdamW8bit runs on bitsandbytes' CUDA 8-bit "
            "optimizer kernels, which this machine lacks; use --optim adamw_torch"
        )
    family = next((key for key in PROJECTED_OPTIMIZERS if optim.startswith(key)), None)
    if family is None:
        raise ArgumentError(
            f"--tuner galore with --optim {optim}: GaLore projects AdamW or Adafactor only "
            "(--optim adamw_torch or adafactor)"
        )
    return family


def galore_optimizer(model: Any, *, args: GaloreArguments, run: Any) -> Any:
    """GaLore's optimizer over every trainable parameter, the projected weights in their
    own group; with `galore_optim_per_parameter`, one optimizer per parameter stepped by a
    gradient hook behind transformers' `LayerWiseDummyOptimizer` (whose scheduler the
    trainer then builds). None with `--use_galore false`: the trainer's `--optim`."""
    if not args.use_galore:
        return None
    import galore_torch

    family = optimizer_family(run.optim)
    cls = getattr(galore_torch, PROJECTED_OPTIMIZERS[family])
    projected = set(projected_names(model, args))
    projection = {
        "rank": args.galore_rank,
        "update_proj_gap": args.galore_update_proj_gap,
        "scale": args.galore_scale,
        "proj_type": args.galore_proj_type,
    }
    params = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    groups = [
        {"params": [p for name, p in params if name not in projected]},
        {"params": [p for name, p in params if name in projected], **projection},
    ]
    options: dict[str, Any] = {"lr": run.learning_rate, "weight_decay": run.weight_decay}
    if family == "adamw":
        options.update(
            betas=(run.adam_beta1, run.adam_beta2), eps=run.adam_epsilon, no_deprecation_warning=True
        )
    else:  # Adafactor on a fixed learning rate, as transformers sets it up for galore_adafactor
        options.update(scale_parameter=False, relative_step=False)
    if not args.galore_optim_per_parameter:
        return cls(groups, **options)
    return per_parameter(groups, cls, options, run.gradient_accumulation_steps)


def per_parameter(groups: list[dict[str, Any]], cls: Any, options: dict[str, Any], accumulation: int) -> Any:
    """One `cls` per parameter, stepped (and its gradient freed) as soon as the gradient is
    complete; the trainer sees a `LayerWiseDummyOptimizer` whose step does nothing."""
    from transformers.trainer_pt_utils import LayerWiseDummyOptimizer

    if accumulation != 1:
        raise ArgumentError(
            "--galore_optim_per_parameter steps each weight as its gradient arrives, so it cannot "
            f"accumulate gradients: use --gradient_accumulation_steps 1 (got {accumulation})"
        )
    optimizers = {p: cls([{**group, "params": [p]}], **options) for group in groups for p in group["params"]}

    def step(param: Any) -> None:
        if param.grad is not None:
            optimizers[param].step()
            optimizers[param].zero_grad()

    for param in optimizers:
        param.register_post_accumulate_grad_hook(step)
    return LayerWiseDummyOptimizer(optimizer_dict=optimizers, lr=options["lr"])
