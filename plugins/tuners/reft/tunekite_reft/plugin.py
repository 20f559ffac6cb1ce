"""Registers the `reft` tuner. Light on purpose: torch, transformers and pyreft are imported
only by the factory and the adapter loader."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import TunerSpec, arg, hookimpl

INTERVENTION_TYPES = (
    "NoreftIntervention",
    "LoreftIntervention",
    "ConsreftIntervention",
    "LobireftIntervention",
    "DireftIntervention",
    "NodireftIntervention",
)
"""pyreft's intervention classes that ms-swift's `--reft_intervention_type` names."""

NOT_MODULES = "reft intervenes on decoder layer outputs, not modules; pick them with --reft_layers"
NO_RESUME = (
    "a ReFT run cannot resume (transformers' Trainer restores model or peft weights, not "
    "interventions); start a new run"
)
"""Why the module arguments and `--resume_from_checkpoint` are refused (the spec's `rejects`):
the run stops before anything loads."""

INSTALL = "--no-deps pyreft==0.1.0 pyvene==0.1.8"
"""What follows `pip install` to bring pyreft (`make install` does it): --no-deps, since their
own requirements pin an old transformers and a CUDA torch."""


@dataclass(kw_only=True)
class ReftArguments:
    """ms-swift 3.x's ReFT arguments (`--train_type reft`)."""

    reft_layers: list[int] = arg(
        default_factory=list, help="decoder layer numbers to intervene on (from 0); empty: every layer"
    )
    reft_rank: int = arg(4, help="rank of the intervention's low-rank subspace")
    reft_intervention_type: str = arg(
        "LoreftIntervention", help=f"pyreft intervention: one of {', '.join(INTERVENTION_TYPES)}"
    )
    reft_args: str | None = arg(
        None, help='other keyword arguments of the intervention, as a JSON object ({"dropout": 0.05})'
    )

    def __post_init__(self) -> None:
        if self.reft_rank < 1:
            raise ValueError(f"reft_rank must be at least 1, got {self.reft_rank}")
        if self.reft_intervention_type not in INTERVENTION_TYPES:
            raise ValueError(
                f"reft_intervention_type must be one of {', '.join(INTERVENTION_TYPES)}, "
                f"got {self.reft_intervention_type!r}"
            )
        if any(layer < 0 for layer in self.reft_layers) or len(set(self.reft_layers)) < len(self.reft_layers):
            raise ValueError(f"reft_layers are distinct layer numbers from 0, got {self.reft_layers}")
        extra = self.intervention_kwargs()
        reserved = {"embed_dim", "low_rank_dimension", "dtype"} & set(extra)
        if reserved:
            raise ValueError(f"reft_args: {', '.join(sorted(reserved))} is set by TuneKite, not reft_args")

    def intervention_kwargs(self) -> dict[str, object]:
        """`--reft_args` parsed: the intervention's extra keyword arguments."""
        if not self.reft_args:
            return {}
        try:
            extra = json.loads(self.reft_args)
        except json.JSONDecodeError as exc:
            raise ValueError(f"reft_args is not JSON: {exc}") from None
        if not isinstance(extra, dict):
            raise ValueError(f"reft_args must be a JSON object, got {self.reft_args!r}")
        return extra


@hookimpl
def tk_register_tuners(register: Callable[[TunerSpec], None]) -> None:
    register(
        TunerSpec(
            name="reft",
            summary="ReFT: pyreft's low-rank interventions on the decoder layers' hidden states",
            args=ReftArguments,
            factory="tunekite_reft.tuner:prepare",
            adapter_loader="tunekite_reft.tuner:load_adapter",
            rejects=(
                *((name, NOT_MODULES) for name in ("target_modules", "target_regex", "modules_to_save")),
                ("resume_from_checkpoint", NO_RESUME),
            ),
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = {"torch": "'tunekite[train]'", "transformers": "'tunekite[train]'", "pyreft": INSTALL}
"""What the tuner imports; `tk plugins` says what to install when one is absent."""
