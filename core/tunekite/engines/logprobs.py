"""Per-step log probabilities, as engines report them, turned into the contract's
`TokenLogprob` entries (OpenAI's `logprobs.content`). Plain Python, nothing heavy."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tunekite.engines.protocol import TokenLogprob


def token_logprobs(
    token_ids: Sequence[int],
    steps: Sequence[Mapping[int, Any]] | None,
    top: int | None,
    decode: Callable[[list[int]], str],
) -> list[TokenLogprob]:
    """One entry per generated token: its log probability and, when `top` is set, the `top`
    most likely tokens of its step.

    `steps[i]` maps token ids to the log probabilities of step i, as floats (LMDeploy, the pt
    engine) or as objects with `logprob` and `rank` (vLLM's `Logprob`); alternatives are
    ordered by rank where one is given, else by log probability (ties keep the map's order).
    A chosen token missing from its map gets -inf; `decode` turns token ids into text."""
    out = []
    for token, step in zip(token_ids, steps or (), strict=False):
        ranked = sorted(step.items(), key=lambda item: (_rank(item[1]), -_logprob(item[1])))
        alternatives = [TokenLogprob(token=decode([t]), logprob=_logprob(v)) for t, v in ranked[: top or 0]]
        logprob = _logprob(step[token]) if token in step else float("-inf")
        out.append(TokenLogprob(token=decode([token]), logprob=logprob, top_logprobs=alternatives))
    return out


def _logprob(value: Any) -> float:
    return float(getattr(value, "logprob", value))


def _rank(value: Any) -> int:
    rank = getattr(value, "rank", None)
    return rank if rank is not None else 1 << 30
