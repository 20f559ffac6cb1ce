"""The factory: 100 questions per operation, the same on every machine.

Each row is a user turn only (GRPO samples the answers) plus `solution`, the exact
result as text, which the `accuracy` reward checks the completion's \\boxed{} answer
against.
"""

from __future__ import annotations

import random
from typing import Any

PER_SUBSET = 100
SEED = 20261122
INSTRUCTION = "Put the final answer in \\boxed{}."
_OPERATIONS = {
    # Single-digit addition: the one a 135M model gets right often enough for GRPO to
    # have groups with mixed rewards (it learns to box answers it already knows).
    "small": ("+", lambda a, b: a + b, (0, 9), (0, 9)),
    "add": ("+", lambda a, b: a + b, (1, 99), (1, 99)),
    "sub": ("-", lambda a, b: a - b, (10, 99), (1, 99)),
    "mul": ("*", lambda a, b: a * b, (2, 19), (2, 12)),
}


def questions(subset: str) -> list[tuple[str, str]]:
    """(question, solution) pairs of one subset, distinct, deterministic."""
    symbol, apply, (lo_a, hi_a), (lo_b, hi_b) = _OPERATIONS[subset]
    rng = random.Random(f"{SEED}-{subset}")
    seen: set[tuple[int, int]] = set()
    out = []
    while len(out) < PER_SUBSET:
        a, b = rng.randint(lo_a, hi_a), rng.randint(lo_b, hi_b)
        if (a, b) in seen:
            continue
        seen.add((a, b))
        out.append((f"What is {a} {symbol} {b}? {INSTRUCTION}", str(apply(a, b))))
    return out


def load(subsets: tuple[str, ...], data_args: Any) -> list[dict]:
    """Prompt-only rows of the chosen subsets with their `solution` and `subset` columns."""
    return [
        {"messages": [{"role": "user", "content": question}], "solution": solution, "subset": subset}
        for subset in subsets
        for question, solution in questions(subset)
    ]
