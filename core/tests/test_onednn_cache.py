"""oneDNN takes the primitive-cache capacity that `bound_primitive_cache` sets after torch
is imported, as long as no primitive was built before: what `launch` relies on."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SCRIPT = """
import torch
from tunekite import onednn_cache
onednn_cache.CAPACITY = {capacity}
onednn_cache.bound_primitive_cache()
a = torch.randn(64, 64, dtype=torch.bfloat16)
b, c = torch.randn(64, 32, dtype=torch.bfloat16), torch.randn(64, 16, dtype=torch.bfloat16)
a @ b; a @ c; a @ b
"""


def cache_events(capacity: int) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_PRIMITIVE_CACHE_CAPACITY"}
    env["ONEDNN_VERBOSE"] = "2"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(capacity=capacity)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return [word.split(":")[1] for word in done.stdout.split(",") if word.startswith("create:cache_")]


def test_the_capacity_set_after_importing_torch_is_the_one_onednn_uses() -> None:
    roomy = cache_events(64)
    if not roomy:
        pytest.skip("bf16 matmul does not go through oneDNN on this CPU (no AVX-512 BF16 / AMX)")
    assert roomy == ["cache_miss", "cache_miss", "cache_hit"]
    assert cache_events(1) == ["cache_miss", "cache_miss", "cache_miss"]  # a @ b was evicted by a @ c
