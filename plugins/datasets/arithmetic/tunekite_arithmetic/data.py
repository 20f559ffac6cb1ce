"""The factory: 100 questions per operation, the same on every machine.

Each row is a prompt (GRPO samples the answers) plus `solution`, the exact result as
text, which the `accuracy` reward checks the completion's \\boxed{} answer against. The
prompt opens with one worked example of the same operation (a question and its boxed
answer): a model as small as SmolLM2-135M boxes its answer about one time in ten when
only told to, and nearly always when shown once, and GRPO needs correct, checkable
answers among a prompt's completions to learn from.
"""

from __future__ import annotations

import random
from typing import Any

PER_SUBSET = 100
SEED = 20261122
INSTRUCTION = "Put the final answer in \\boxed{}."
_OPERATIONS = {
    # Single-digit sums: ones SmolLM2-135M gets right often enough for groups of
    # completions with mixed rewards.
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


def worked_example(question: str, solution: str) -> list[dict[str, str]]:
    """A question and the answer the `accuracy` reward wants: the sum, boxed."""
    expression = question.removeprefix("What is ").split("?")[0]
    return [
        {"role": "user", "content": question},
        {"role": "assistant", "content": f"{expression} = \\boxed{{{solution}}}"},
    ]


def load(subsets: tuple[str, ...], data_args: Any) -> list[dict]:
    """Prompts of the chosen subsets (a worked example of the next question of the same
    subset, then the question) with their `solution` and `subset` columns."""
    rows = []
    for subset in subsets:
        pairs = questions(subset)
        for i, (question, solution) in enumerate(pairs):
            example = worked_example(*pairs[(i + 1) % len(pairs)])
            rows.append(
                {
                    "messages": [*example, {"role": "user", "content": question}],
                    "solution": solution,
                    "subset": subset,
                }
            )
    return rows
