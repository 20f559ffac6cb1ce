"""Registers the `gptq` and `awq` exporters. Light on purpose: gptqmodel, which needs a newer
torch than TuneKite's main environment, is imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import ExporterSpec, arg, hookimpl


@dataclass(kw_only=True)
class GptqArguments:
    """Calibrated 4-bit (or 2/3/8-bit) weights; ms-swift 3.x names and defaults."""

    quant_bits: Literal[2, 3, 4, 8] | None = arg(None, help="bits per weight (AWQ: 4)")
    group_size: int = arg(128, help="weights sharing one scale; -1: one per output row")
    quant_sym: bool = arg(
        False,
        help="symmetric grid, no zero points (vLLM loads GPTQ only so); false: a zero point per group, "
        "more accurate",
    )
    quant_n_samples: int = arg(
        256,
        help="calibration conversations, each cut to --max_length tokens (GPTQ); AWQ joins them and cuts "
        "blocks of --max_length tokens, dropping a partial last block unless it is the only one",
    )
    quant_batch_size: int = arg(1, help="calibration samples per forward pass")
    dataset: list[str] = arg(
        default_factory=list,
        help="calibration data (files or dataset names), rendered through the model's template; "
        "none: a bundled sample",
    )


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    for name, summary in (
        ("gptq", "GPTQ weights (gptqmodel, its own environment: make quant-env), loadable by transformers"),
        (
            "awq",
            "AWQ 4-bit weights (gptqmodel, its own environment: make quant-env), loadable by transformers",
        ),
    ):
        register(
            ExporterSpec(
                name=name,
                summary=summary,
                args=GptqArguments,
                quantizes=True,
                factory=f"tunekite_gptq.quantize:{name}",
            )
        )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
