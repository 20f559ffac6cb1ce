"""Each method's own arguments: ms-swift 3.x names and defaults where ms-swift has the method
(AdaLoRA, VeRA, BOFT, FourierFT), the method's name as prefix and peft's defaults otherwise."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar, Literal

from tunekite.api import arg


class Checked:
    """The checks all methods share: each `*dropout` field lies in [0, 1), each field named
    in `positive` (ranks, sizes, counts) is at least 1."""

    positive: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.name.endswith("dropout") and not 0.0 <= value < 1.0:
                raise ValueError(f"{f.name} must be in [0, 1), got {value}")
            if f.name in self.positive and value < 1:
                raise ValueError(f"{f.name} must be at least 1, got {value}")


@dataclass(kw_only=True)
class AdaLoraArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("adalora_target_r", "adalora_deltaT")

    adalora_target_r: int = arg(8, help="average rank the budget is pruned to")
    adalora_init_r: int = arg(12, help="rank every module starts with")
    adalora_tinit: int = arg(0, help="steps of warm-up before ranks are pruned")
    adalora_tfinal: int = arg(0, help="last steps that train with the final ranks fixed")
    adalora_deltaT: int = arg(1, help="steps between two rank re-allocations")
    adalora_beta1: float = arg(0.85, help="EMA coefficient of the importance sensitivity")
    adalora_beta2: float = arg(0.85, help="EMA coefficient of the importance uncertainty")
    adalora_orth_reg_weight: float = arg(0.5, help="weight of the orthogonality regulariser in the loss")
    lora_alpha: int = arg(32, help="scaling numerator, as for LoRA")
    lora_dropout: float = arg(0.05, help="dropout on the adapter input")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.adalora_init_r < self.adalora_target_r:
            raise ValueError(
                f"adalora_init_r ({self.adalora_init_r}) must be at least adalora_target_r "
                f"({self.adalora_target_r}): the budget only shrinks"
            )


@dataclass(kw_only=True)
class VeraArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("vera_rank",)

    vera_rank: int = arg(256, help="rank of the shared random projections")
    vera_projection_prng_key: int = arg(0, help="seed of the shared random projections")
    vera_dropout: float = arg(0.0, help="dropout on the adapter input")
    vera_d_initial: float = arg(0.1, help="initial value of the d scaling vector")


@dataclass(kw_only=True)
class BoftArguments(Checked):
    boft_block_size: int = arg(4, help="size of each butterfly block; 0 when boft_block_num is set")
    boft_block_num: int = arg(0, help="number of butterfly blocks; exclusive with boft_block_size")
    boft_dropout: float = arg(0.0, help="multiplicative dropout on the blocks")

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.boft_block_size == 0) == (self.boft_block_num == 0):
            raise ValueError(
                "set exactly one of boft_block_size and boft_block_num (pass --boft_block_size 0 with "
                f"--boft_block_num), got {self.boft_block_size} and {self.boft_block_num}"
            )


@dataclass(kw_only=True)
class OftArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("oft_block_size",)

    oft_block_size: int = arg(32, help="size of each orthogonal block (peft's default)")
    oft_dropout: float = arg(0.0, help="multiplicative dropout on the blocks")
    oft_coft: bool = arg(False, help="constrained OFT: keep the rotation near the identity")


@dataclass(kw_only=True)
class FourierArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("fourier_n_frequency",)

    fourier_n_frequency: int = arg(2000, help="spectral coefficients learned per module, like LoRA's rank")
    fourier_scaling: float = arg(300.0, help="scale of the spectral update, like lora_alpha")


@dataclass(kw_only=True)
class Ia3Arguments:
    ia3_feedforward_modules: list[str] = arg(
        default_factory=list,
        help="target modules scaled on their input (the MLP's); empty uses peft's choice for the model",
    )


@dataclass(kw_only=True)
class LohaArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("loha_rank",)

    loha_rank: int = arg(8, help="rank of each Hadamard factor")
    loha_alpha: int = arg(8, help="scaling numerator: the update is scaled by alpha/rank")
    loha_rank_dropout: float = arg(0.0, help="dropout on the rank dimension")
    loha_module_dropout: float = arg(0.0, help="probability of skipping a module's update in a step")


@dataclass(kw_only=True)
class LokrArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("lokr_rank",)

    lokr_rank: int = arg(8, help="rank of the Kronecker factor")
    lokr_alpha: int = arg(8, help="scaling numerator: the update is scaled by alpha/rank")
    lokr_rank_dropout: float = arg(0.0, help="dropout on the rank dimension")
    lokr_module_dropout: float = arg(0.0, help="probability of skipping a module's update in a step")
    lokr_decompose_both: bool = arg(False, help="also decompose the left Kronecker factor")


@dataclass(kw_only=True)
class HraArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("hra_rank",)

    hra_rank: int = arg(8, help="number of Householder reflections per module")
    hra_apply_gs: bool = arg(False, help="Gram-Schmidt orthogonalise the reflections")


@dataclass(kw_only=True)
class MissArguments(Checked):
    positive: ClassVar[tuple[str, ...]] = ("miss_rank", "miss_mini_rank")

    miss_rank: int = arg(64, help="rank (shard size) of the shared block; divides the input width")
    miss_dropout: float = arg(0.0, help="dropout on the adapter input")
    miss_init_weights: Literal["true", "bat", "mini"] = arg(
        "true", help="true (MiSS), bat (Bone's block-affine variant) or mini (smaller, miss_mini_rank)"
    )
    miss_mini_rank: int = arg(1, help="with miss_init_weights mini: the smaller rank")


@dataclass(kw_only=True)
class VirtualTokenArguments(Checked):
    """What prompt, prefix and P-tuning share: learned virtual tokens before the input."""

    positive: ClassVar[tuple[str, ...]] = ("num_virtual_tokens",)

    num_virtual_tokens: int = arg(20, help="number of learned virtual tokens")


@dataclass(kw_only=True)
class PromptTuningArguments(VirtualTokenArguments):
    prompt_tuning_init_text: str | None = arg(
        None, help="text whose token embeddings start the virtual tokens; None starts them at random"
    )


@dataclass(kw_only=True)
class PrefixTuningArguments(VirtualTokenArguments):
    prefix_projection: bool = arg(False, help="reparameterise the prefix through a two-layer MLP")
    prefix_encoder_hidden_size: int | None = arg(
        None, help="hidden size of that MLP; None uses the model's hidden size"
    )


@dataclass(kw_only=True)
class PtuningArguments(VirtualTokenArguments):
    positive: ClassVar[tuple[str, ...]] = ("num_virtual_tokens", "ptuning_encoder_num_layers")

    ptuning_encoder_type: Literal["MLP", "LSTM"] = arg("MLP", help="prompt encoder: MLP or LSTM")
    ptuning_encoder_hidden_size: int | None = arg(
        None, help="hidden size of the prompt encoder; None uses the model's hidden size"
    )
    ptuning_encoder_num_layers: int = arg(2, help="layers of the prompt encoder")
    ptuning_encoder_dropout: float = arg(0.0, help="dropout in the prompt encoder")
