"""Registers the `bnb` quantizer. Light on purpose: bitsandbytes is imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tunekite.api import ExporterSpec, QuantizerSpec, arg, hookimpl

STORAGE_DTYPES = ("uint8", "int8", "float16", "bfloat16", "float32")


@dataclass(kw_only=True)
class BnbArguments:
    """bitsandbytes' own arguments, with ms-swift 3.x names and defaults (4-bit only)."""

    bnb_4bit_compute_dtype: Literal["float16", "bfloat16", "float32"] | None = arg(
        None, help="4-bit compute dtype; None follows --torch_dtype (float32 when that is unset)"
    )
    bnb_4bit_quant_type: Literal["fp4", "nf4"] = arg("nf4", help="4-bit data type: nf4 or fp4")
    bnb_4bit_use_double_quant: bool = arg(True, help="4-bit: also quantize the quantization constants")
    bnb_4bit_quant_storage: str | None = arg(
        None,
        help=f"4-bit: dtype the packed weights are stored in ({', '.join(STORAGE_DTYPES)}); None is uint8",
    )

    def __post_init__(self) -> None:
        if self.bnb_4bit_quant_storage is not None and self.bnb_4bit_quant_storage not in STORAGE_DTYPES:
            raise ValueError(
                f"bnb_4bit_quant_storage must be one of {', '.join(STORAGE_DTYPES)}, "
                f"got {self.bnb_4bit_quant_storage!r}"
            )


@dataclass(kw_only=True)
class BnbExportArguments(BnbArguments):
    """`tk run export --quant_method bnb`: a folder of bitsandbytes weights transformers loads."""

    quant_bits: Literal[4, 8] | None = arg(None, help="bits per weight: 4 (nf4/fp4) or 8 (LLM.int8)")


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    register(
        ExporterSpec(
            name="bnb",
            summary="bitsandbytes 4-bit or 8-bit weights saved as a transformers folder",
            args=BnbExportArguments,
            quantizes=True,
            factory="tunekite_bnb.export:export",
        )
    )


@hookimpl
def tk_register_quantizers(register: Callable[[QuantizerSpec], None]) -> None:
    register(
        QuantizerSpec(
            name="bnb",
            summary="bitsandbytes 4-bit (nf4/fp4) or 8-bit weights at load time: QLoRA, lean inference",
            args=BnbArguments,
            factory="tunekite_bnb.quantize:from_pretrained_kwargs",
        )
    )


@hookimpl
def tk_train_callbacks(run: Any) -> list[Any] | None:
    """A run training on a quantized base releases the checkpoint's memory map (see
    `tunekite_bnb.memory`); on a 4-bit base it also keeps its gradients exact (see
    `tunekite_bnb.training`)."""
    quant = run.groups.get("quantization")
    if quant is None or quant.quant_method != "bnb":
        return None
    from tunekite_bnb.memory import CopyOutOfCheckpoint
    from tunekite_bnb.training import KeepTrainable

    return [CopyOutOfCheckpoint(), *([KeepTrainable()] if quant.quant_bits == 4 else [])]
