"""The example plugin passes the reward conformance suite and scores as documented."""

from __future__ import annotations

from tunekite.testing import RewardConformance
from tunekite_keyword_reward import KeywordArguments, build


class TestKeywordConformance(RewardConformance):
    name = "keyword"


def test_scores_the_fraction_of_keywords_mentioned() -> None:
    reward = build(KeywordArguments(reward_keywords=["metres", "seconds"]))
    assert reward(["9.8 Metres per seconds", "metres", "nothing"]) == [1.0, 0.5, 0.0]


def test_case_sensitive_when_asked() -> None:
    reward = build(KeywordArguments(reward_keywords=["Paris"], reward_keywords_ignore_case=False))
    assert reward(["paris", "Paris"]) == [0.0, 1.0]
