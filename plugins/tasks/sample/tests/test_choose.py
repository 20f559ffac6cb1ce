"""The choice of completions to keep, on given scores (ms-swift's VanillaSampler rules)."""

from __future__ import annotations

import pytest

from tunekite.api import ArgumentError, RewardSpec
from tunekite.testing import RewardConformance
from tunekite_sample.prompts import shard
from tunekite_sample.scoring import Kept, choose, normalized


def test_outcome_only_keeps_the_correct_ones_best_first_paired_with_the_worst() -> None:
    kept = choose([0.0, 1.0, 0.0, 1.0], None, n_best=5, prm_threshold=0.0)
    assert kept == [Kept(1, 2), Kept(3, 2)]  # equals keep their order: the last wrong one is the worst


def test_n_best_counts_before_the_filter() -> None:
    assert choose([1.0, 0.5, 0.2], None, n_best=1, prm_threshold=0.0) == [Kept(0, 2)]
    assert choose([0.0, 0.0, 0.0], None, n_best=2, prm_threshold=0.0) == []


def test_the_process_reward_filters_by_threshold_and_breaks_outcome_ties() -> None:
    outcome = [1.0, 1.0, 1.0, 0.0]
    process = [0.2, 0.9, 0.6, 1.0]
    kept = choose(outcome, process, n_best=5, prm_threshold=0.5)
    # outcome weighs 10x: the wrong answer with the best process reward ranks last
    assert kept == [Kept(1, 3), Kept(2, 3)]


def test_a_group_of_equals_has_no_rejected_reply() -> None:
    assert choose([1.0, 1.0], None, n_best=2, prm_threshold=0.0) == [Kept(0, None), Kept(1, None)]


def test_easy_prompts_are_dropped_above_the_threshold() -> None:
    assert choose([1.0, 1.0, 1.0, 0.0], None, n_best=1, prm_threshold=0.0, easy_query_threshold=0.5) == []
    assert choose([1.0, 1.0, 0.0, 0.0], None, n_best=1, prm_threshold=0.0, easy_query_threshold=0.5) == [
        Kept(0, 3)
    ]


def test_normalized_is_min_max_and_constant_groups_keep_their_sign() -> None:
    assert normalized([2.0, 4.0, 3.0]) == pytest.approx([0.0, 1.0, 0.5], abs=1e-4)
    assert normalized([0.0, 0.0]) == [0.0, 0.0]
    assert normalized([3.0, 3.0]) == [1.0, 1.0]
    assert normalized([0.25, 0.25]) == [0.25, 0.25]


def test_data_range_shards_cover_every_item_once() -> None:
    items = list(range(10))
    shards = [shard(items, [i, 3]) for i in range(3)]
    assert shards == [[0, 1, 2], [3, 4, 5], [6, 7, 8, 9]]
    assert shard(items, []) == items
    for bad in ([3, 3], [0], [-1, 2]):
        with pytest.raises(ArgumentError, match="--data_range"):
            shard(items, bad)


def weakest_steps(args: object = None) -> object:
    """A process reward: one score per line of each completion."""
    return lambda completions, **columns: [[float(len(line)) for line in c.split("\n")] for c in completions]


class TestProcessRewardConformance(RewardConformance):
    """Core's reward conformance accepts a process reward's per-step lists, and fails one
    that gives a float where it declared steps."""

    name = "weakest_steps"

    def spec(self) -> RewardSpec:
        return RewardSpec(name=self.name, summary="line lengths", factory=weakest_steps, process=True)

    def test_a_process_reward_that_gives_floats_fails(self) -> None:
        floats = lambda args: lambda completions, **columns: [1.0] * len(completions)  # noqa: E731
        flat = RewardSpec(name="flat", summary="s", factory=floats, process=True)
        self.spec = lambda: flat  # type: ignore[method-assign]
        with pytest.raises(AssertionError):
            self.test_one_finite_float_per_completion()
