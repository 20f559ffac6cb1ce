"""The one LoRA SFT and inference setting every side runs, spelled once."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# TuneKite's smollm2 template adds SmolLM2's default system prompt; the peers are given the
# same text, so every side trains on the same tokens.
SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


@dataclass(frozen=True)
class SftSetting:
    """bench/sft.py's setting; where its `tk run sft` line passes nothing, TuneKite's defaults
    (given to the peers explicitly, as their own defaults differ: LLaMA-Factory's learning
    rate, weight decay and LoRA dropout, for one)."""

    model_dir: Path
    data: Path
    steps: int
    batch: int = 4
    max_length: int = 512
    lora_rank: int = 8
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    learning_rate: float = 1e-4
    lr_scheduler: str = "cosine"
    weight_decay: float = 0.1
    adam_beta2: float = 0.999
    max_grad_norm: float = 1.0
    seed: int = 42
    system: str = SMOLLM2_SYSTEM


@dataclass(frozen=True)
class InferSetting:
    model_dir: Path
    prompts: Path  # one {"messages": [{"role": "user", ...}]} row per prompt
    new_tokens: int = 64
    batch: int = 16
    dtype: str = "bfloat16"
    system: str = SMOLLM2_SYSTEM


@dataclass
class SftResult:
    train_runtime_s: float
    last_loss: float
    wall_s: float
    peak_rss_mb: float

    def as_row(self, samples: int) -> dict[str, float]:
        return {
            "train_runtime_s": round(self.train_runtime_s, 1),
            "samples_per_s": round(samples / self.train_runtime_s, 3),
            "last_loss": self.last_loss,
            "peak_rss_mb": self.peak_rss_mb,
            "wall_s_including_load": self.wall_s,
        }
