"""The arithmetic dataset: prompt-only conformance, solutions, determinism."""

from __future__ import annotations

import re

from tunekite.testing import DatasetConformance


class TestArithmetic(DatasetConformance):
    name = "arithmetic"
    require_response = False


def test_rows_are_user_prompts_with_a_correct_solution() -> None:
    rows = TestArithmetic().load_rows()
    assert len(rows) == 300
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user"]
        question = row["messages"][0]["content"]
        assert question.endswith("Put the final answer in \\boxed{}.")
        a, op, b = re.match(r"What is (\d+) ([+\-*]) (\d+)\?", question).groups()
        assert row["solution"] == str(ops[op](int(a), int(b)))
    assert len({r["messages"][0]["content"] for r in rows}) == 300


def test_same_rows_every_time_and_subsets_sample() -> None:
    suite = TestArithmetic()
    first = [r["messages"][0]["content"] for r in suite.load_rows("arithmetic:mul")]
    again = [r["messages"][0]["content"] for r in suite.load_rows("arithmetic:mul")]
    assert first == again and all(" * " in q for q in first)
    assert len(suite.load_rows("arithmetic:add/sub")) == 200
    assert len(suite.load_rows("arithmetic#50")) == 50
