"""oneDNN's primitive cache, kept small for the shapes of training and generation.

On a CPU, bf16 matrix multiplies (and the flash-attention kernel's) run as oneDNN
primitives: JIT-compiled kernels cached per shape, 1,024 by default. Padding-free rows,
per-sample attention and generation give nearly every step shapes of its own, so the
cache fills with kernels used for one step and never again. Measured (issue 19:
SmolLM2-135M LoRA, `--torch_dtype bfloat16`, batch 4, 20 steps, one run each):

| capacity | samples/s | peak RSS |
|---|---|---|
| 1,024 (oneDNN's default) | 0.771 | 4,104 MB |
| 256 | 0.828 | 3,815 MB |
| 128 | 0.844 | 3,689 MB |
| 64 | 0.923, 0.872 | 3,635, 3,572 MB |
| 32 | 0.815 | 3,579 MB |

A step's own shapes (about 45 there) are reused across its 30 layers; 64 holds them, 32
evicts them before the next layer. oneDNN reads the capacity once, when it builds its
first primitive, so it is set before a run starts; a value the user exported wins.
"""

from __future__ import annotations

import os

CAPACITY_VARIABLE = "ONEDNN_PRIMITIVE_CACHE_CAPACITY"
CAPACITY = 64


def bound_primitive_cache() -> None:
    """Give oneDNN `CAPACITY` cached primitives unless `ONEDNN_PRIMITIVE_CACHE_CAPACITY` is set."""
    os.environ.setdefault(CAPACITY_VARIABLE, str(CAPACITY))
