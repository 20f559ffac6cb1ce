"""The arithmetic dataset: prompt-only conformance, solutions, determinism."""

from __future__ import annotations

import re

from tunekite.testing import DatasetConformance


class TestArithmetic(DatasetConformance):
    name = "arithmetic"
    require_response = False


def test_rows_are_a_worked_example_then_the_question_with_its_solution() -> None:
    rows = TestArithmetic().load_rows()
    assert len(rows) == 400
    ops = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}
    for row in rows:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant", "user"]
        example, answer, question = (m["content"] for m in row["messages"])
        a, op, b = re.match(r"What is (\d+) ([+\-*]) (\d+)\?", example).groups()
        assert answer == f"{a} {op} {b} = \\boxed{{{ops[op](int(a), int(b))}}}" and example != question
        assert question.endswith("Put the final answer in \\boxed{}.")
        a, op, b = re.match(r"What is (\d+) ([+\-*]) (\d+)\?", question).groups()
        assert row["solution"] == str(ops[op](int(a), int(b)))
    for subset in ("small", "add", "sub", "mul"):  # distinct within a subset (small and add may share a sum)
        questions = [r["messages"][-1]["content"] for r in rows if r["subset"] == subset]
        assert len(questions) == len(set(questions)) == 100


def test_same_rows_every_time_and_subsets_sample() -> None:
    suite = TestArithmetic()
    first = [r["messages"][-1]["content"] for r in suite.load_rows("arithmetic:mul")]
    again = [r["messages"][-1]["content"] for r in suite.load_rows("arithmetic:mul")]
    assert first == again and all(" * " in q for q in first)
    assert len(suite.load_rows("arithmetic:add/sub")) == 200
    assert len(suite.load_rows("arithmetic#50")) == 50


def test_small_is_every_single_digit_sum() -> None:
    rows = TestArithmetic().load_rows("arithmetic:small")
    pairs = {re.match(r"What is (\d) \+ (\d)\?", r["messages"][-1]["content"]).groups() for r in rows}
    assert len(rows) == 100 and len(pairs) == 100
