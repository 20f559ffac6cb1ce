"""A third-party TuneKite plugin in one file: the `keyword` reward.

Rewards each completion with the fraction of `--reward_keywords` it mentions, e.g.
to nudge a GRPO run towards naming units or citing a source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import RewardSpec, arg, hookimpl


@dataclass(kw_only=True)
class KeywordArguments:
    """Which words earn the reward."""

    reward_keywords: list[str] = arg(default_factory=lambda: ["answer"], help="words to look for")
    reward_keywords_ignore_case: bool = arg(True, help="match regardless of case")


def build(args: KeywordArguments) -> Callable[..., list[float]]:
    fold = args.reward_keywords_ignore_case
    words = [w.lower() for w in args.reward_keywords] if fold else args.reward_keywords

    def keyword_reward(completions: list[str], **columns: object) -> list[float]:
        texts = [c.lower() for c in completions] if fold else completions
        return [sum(w in t for w in words) / len(words) if words else 0.0 for t in texts]

    return keyword_reward


@hookimpl
def tk_register_rewards(register: Callable[[RewardSpec], None]) -> None:
    register(
        RewardSpec(
            name="keyword",
            summary="Fraction of the given keywords a completion mentions",
            args=KeywordArguments,
            factory=build,
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
