"""The one table: each tuner's name, its arguments, and how they become a peft config.

Light on purpose (no peft import): the plugin registers a tuner per row, and
`tunekite_peft.tuner` builds `peft.<config>(**options(args))` when one is applied.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from tunekite_peft import arguments as a

Targets = Literal["modules", "norms", "none"]
"""What a method attaches to: `--target_modules` (all-linear by default), norm layers
(LN-tuning: peft's norms for the model unless named), or nothing (virtual tokens)."""


@dataclass(frozen=True)
class Method:
    summary: str
    args: type | None
    config: str
    options: Callable[[Any], dict[str, Any]]
    targets: Targets = "modules"
    aliases: tuple[str, ...] = ()
    short_names: bool = False
    """Spell `all-linear` as the linear layers' own names (q_proj, ...): peft saves it as
    full module paths, which IA3's feedforward check cannot match when the adapter loads."""


METHODS: dict[str, Method] = {
    "adalora": Method(
        "AdaLoRA: LoRA whose rank budget moves to the modules that matter, step by step",
        a.AdaLoraArguments,
        "AdaLoraConfig",
        lambda x: {
            "target_r": x.adalora_target_r,
            "init_r": x.adalora_init_r,
            "tinit": x.adalora_tinit,
            "tfinal": x.adalora_tfinal,
            "deltaT": x.adalora_deltaT,
            "beta1": x.adalora_beta1,
            "beta2": x.adalora_beta2,
            "orth_reg_weight": x.adalora_orth_reg_weight,
            "lora_alpha": x.lora_alpha,
            "lora_dropout": x.lora_dropout,
        },
    ),
    "vera": Method(
        "VeRA: shared frozen random projections, only scaling vectors trained",
        a.VeraArguments,
        "VeraConfig",
        lambda x: {
            "r": x.vera_rank,
            "projection_prng_key": x.vera_projection_prng_key,
            "vera_dropout": x.vera_dropout,
            "d_initial": x.vera_d_initial,
        },
    ),
    "boft": Method(
        "BOFT: butterfly-factored orthogonal fine-tuning",
        a.BoftArguments,
        "BOFTConfig",
        lambda x: {
            "boft_block_size": x.boft_block_size,
            "boft_block_num": x.boft_block_num,
            "boft_dropout": x.boft_dropout,
        },
    ),
    "oft": Method(
        "OFT: block-diagonal orthogonal fine-tuning",
        a.OftArguments,
        "OFTConfig",
        lambda x: {
            "r": 0,
            "oft_block_size": x.oft_block_size,
            "module_dropout": x.oft_dropout,
            "coft": x.oft_coft,
        },
    ),
    "fourierft": Method(
        "FourierFT: a few learned spectral coefficients per weight",
        a.FourierArguments,
        "FourierFTConfig",
        # peft draws the spectrum at random by default; at ms-swift's scaling of 300 that moved
        # SmolLM2-135M's first loss from 5.91 to 13.85 and training did not recover in 5 steps
        # (make bench-tuners), so the spectrum starts at zero and training starts from the base
        lambda x: {"n_frequency": x.fourier_n_frequency, "scaling": x.fourier_scaling, "init_weights": True},
    ),
    "ia3": Method(
        "IA3: learned vectors rescaling activations",
        a.Ia3Arguments,
        "IA3Config",
        lambda x: {"feedforward_modules": list(x.ia3_feedforward_modules) or None},
        short_names=True,
    ),
    "loha": Method(
        "LoHa: low-rank Hadamard product updates",
        a.LohaArguments,
        "LoHaConfig",
        lambda x: {
            "r": x.loha_rank,
            "alpha": x.loha_alpha,
            "rank_dropout": x.loha_rank_dropout,
            "module_dropout": x.loha_module_dropout,
        },
    ),
    "lokr": Method(
        "LoKr: low-rank Kronecker product updates",
        a.LokrArguments,
        "LoKrConfig",
        lambda x: {
            "r": x.lokr_rank,
            "alpha": x.lokr_alpha,
            "rank_dropout": x.lokr_rank_dropout,
            "module_dropout": x.lokr_module_dropout,
            "decompose_both": x.lokr_decompose_both,
        },
    ),
    "hra": Method(
        "HRA: Householder reflection adaptation",
        a.HraArguments,
        "HRAConfig",
        lambda x: {"r": x.hra_rank, "apply_GS": x.hra_apply_gs},
    ),
    "miss": Method(
        "MiSS (formerly Bone): a shared trained block per weight matrix",
        a.MissArguments,
        "MissConfig",
        lambda x: {
            "r": x.miss_rank,
            "miss_dropout": x.miss_dropout,
            "init_weights": {"true": True}.get(x.miss_init_weights, x.miss_init_weights),
            "mini_r": x.miss_mini_rank,
        },
        aliases=("bone",),
    ),
    "ln_tuning": Method(
        "LN-tuning: only the normalisation layers train",
        None,
        "LNTuningConfig",
        lambda x: {},
        targets="norms",
    ),
    "prompt_tuning": Method(
        "Prompt tuning: learned virtual tokens before the input",
        a.PromptTuningArguments,
        "PromptTuningConfig",
        lambda x: {
            "num_virtual_tokens": x.num_virtual_tokens,
            "prompt_tuning_init": "TEXT" if x.prompt_tuning_init_text else "RANDOM",
            "prompt_tuning_init_text": x.prompt_tuning_init_text,
        },
        targets="none",
    ),
    "prefix_tuning": Method(
        "Prefix tuning: learned key/value prefixes in every layer",
        a.PrefixTuningArguments,
        "PrefixTuningConfig",
        lambda x: {
            "num_virtual_tokens": x.num_virtual_tokens,
            "prefix_projection": x.prefix_projection,
            "encoder_hidden_size": x.prefix_encoder_hidden_size,
        },
        targets="none",
    ),
    "ptuning": Method(
        "P-tuning: virtual tokens produced by a small trained prompt encoder",
        a.PtuningArguments,
        "PromptEncoderConfig",
        lambda x: {
            "num_virtual_tokens": x.num_virtual_tokens,
            "encoder_reparameterization_type": x.ptuning_encoder_type,
            "encoder_hidden_size": x.ptuning_encoder_hidden_size,
            "encoder_num_layers": x.ptuning_encoder_num_layers,
            "encoder_dropout": x.ptuning_encoder_dropout,
        },
        targets="none",
    ),
}
