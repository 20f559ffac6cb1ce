"""The `lm_eval` evaluator: lm-evaluation-harness's tasks, answered through `job.answer`.

lm-eval drives the evaluation (prompts, few-shot, answer filters, metrics); TuneKite
plugs in as an lm-eval `LM` whose `generate_until` sends chat conversations to the run's
engine or `--eval_url` server, so every engine and server works alike. Chat prompts stay
messages: `apply_chat_template` hands lm-eval the conversation as JSON (as lm-eval's own
chat-completions client does), and `generate_until` reads it back.

Tasks scored by option log-likelihoods (`arc_challenge`, `mmlu`, `ceval-valid`) need the
model's logits, which replies do not carry: they are refused with the generative variant
to use. Benchmarks read their data from the Hugging Face hub; offline, the first failed
download stops the run with one line naming the offline fix, and
`--eval_dataset_args '{"gsm8k": {"dataset_path": "json", "dataset_kwargs": {"data_files":
{"test": "/data/gsm8k/test.jsonl"}}}}'` points a task at a local copy.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from tunekite.api import ArgumentError, DatasetResult, EvalJob, EvalSample

ALIASES = {"arc": "arc_challenge_chat", "mmlu": "mmlu_generative", "ceval": "ceval-valid"}
"""ms-swift's benchmark names onto lm-eval tasks that generate their answers."""

_OFFLINE_HINTS = ("offline", "connection", "resolve", "couldn't reach", "network", "timed out", "max retries")


def task_name(dataset: str) -> str:
    return ALIASES.get(dataset, dataset)


def evaluate(_args: None, job: EvalJob) -> Iterator[DatasetResult]:
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager()
    model = answering_lm(job)
    for dataset in job.datasets:
        name = task_name(dataset)
        if not manager.match_tasks([name]):
            raise ArgumentError(
                f"--eval_dataset {dataset}: lm-eval has no task {name!r} (list them with `lm-eval ls tasks`)"
            )
        overrides = dict(job.dataset_args.get(dataset, {}))
        spec = task_config(manager, dataset, name, overrides) if overrides else name
        try:
            results = lm_eval.simple_evaluate(
                model=model,
                tasks=[spec],
                task_manager=manager,
                limit=job.limit,
                apply_chat_template=True,
                log_samples=True,
                random_seed=job.seed,
                numpy_random_seed=job.seed,
                torch_random_seed=job.seed,
                fewshot_random_seed=job.seed,
            )
        except ArgumentError:
            raise
        except Exception as exc:
            raise ArgumentError(download_failure(dataset, name, exc)) from None
        yield from results_of(dataset, results, job)


def task_config(manager: Any, dataset: str, name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The task's own YAML config with `--eval_dataset_args` keys replaced (lm-eval builds a
    config given as a dict from that dict alone)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    entry = manager.task_index.get(name)
    if entry is None or entry.yaml_path is None or "task" not in (entry.cfg or {}):
        raise ArgumentError(
            f"--eval_dataset_args: {dataset} ({name}) is an lm-eval group, not one task; give the options "
            "to each of its tasks by name"
        )
    return {**load_yaml(entry.yaml_path), **overrides, "task": name}


def download_failure(dataset: str, task: str, exc: BaseException) -> str:
    """One line for a task that failed to build: the offline fix when its data could not
    be downloaded, else lm-eval's own error."""
    chain, seen = [], exc
    while seen is not None:
        chain.append(f"{type(seen).__name__}: {seen}")
        seen = seen.__cause__ or seen.__context__
    text = " ".join(chain).lower()
    if any(hint in text for hint in _OFFLINE_HINTS):
        files = {"train": "/path/train.jsonl", "test": "/path/test.jsonl"}
        local = {dataset: {"dataset_path": "json", "dataset_kwargs": {"data_files": files}}}
        return (
            f"--eval_dataset {dataset}: lm-eval task {task!r} downloads its data from the Hugging Face hub, "
            "which cannot be reached from here. Offline fix: on a machine with network run `python -c "
            f"\"import lm_eval.tasks as t; t.get_task_dict(['{task}'])\"`, copy its ~/.cache/huggingface "
            "here and set HF_DATASETS_OFFLINE=1, or give a local copy of its splits with "
            f"--eval_dataset_args '{json.dumps(local)}'"
        )
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"--eval_dataset {dataset}: lm-eval task {task!r} failed: {first}"


def results_of(dataset: str, results: Mapping[str, Any], job: EvalJob) -> Iterator[DatasetResult]:
    """One result per lm-eval task run (a group yields its subtasks too): its metrics as
    `metric` (lm-eval's `metric,filter` keys, `,none` dropped) and its logged samples."""
    for task, values in results["results"].items():
        scores = {
            key.removesuffix(",none"): float(value)
            for key, value in values.items()
            if isinstance(value, (int, float))
            and not isinstance(value, bool)
            and "_stderr" not in key
            and key != "sample_len"
        }
        samples = [logged_sample(logged, scores) for logged in results.get("samples", {}).get(task, [])]
        for sample in samples:
            job.report(dataset, sample)
        yield DatasetResult(
            dataset=dataset if task == task_name(dataset) else f"{dataset}/{task}",
            scores=scores,
            samples=tuple(samples),
            kind=f"lm_eval:{task}",
        )


def logged_sample(logged: Mapping[str, Any], scores: Mapping[str, float]) -> EvalSample:
    """An lm-eval logged sample (one per document and answer filter) as an `EvalSample`
    with its scores under the task's `metric,filter` keys."""
    suffix = f",{logged.get('filter', 'none')}"
    arguments = (logged.get("arguments") or [("", {})])[0]  # the first request's (context, gen_kwargs)
    context = arguments[0] if arguments else ""
    resps = logged.get("filtered_resps") or [""]
    return EvalSample(
        index=int(logged.get("doc_id", 0)),
        prompt=conversation(str(context)),
        prediction=str(resps[0][0] if isinstance(resps[0], list) else resps[0]),
        reference=logged.get("target"),
        scores={
            f"{k}{suffix}".removesuffix(",none"): float(v)
            for k, v in logged.items()
            if f"{k}{suffix}".removesuffix(",none") in scores
        },
        extra={"filter": logged.get("filter"), "raw": logged.get("resps")},
    )


def answering_lm(job: EvalJob) -> Any:
    """An lm-eval `LM` whose generations come from `job.answer`."""
    from lm_eval.api.model import LM

    class Answering(LM):
        tokenizer_name = "tunekite-chat"

        def apply_chat_template(
            self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True
        ) -> str:
            return json.dumps(chat_history, ensure_ascii=False)

        def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
            replies: list[str] = [""] * len(requests)
            groups: dict[str, list[int]] = {}
            for i, request in enumerate(requests):
                groups.setdefault(json.dumps(request.args[1], sort_keys=True, default=str), []).append(i)
            for key, indices in groups.items():
                options = json.loads(key)
                until = options.get("until") or []
                overrides: dict[str, Any] = {"stop": tuple([until] if isinstance(until, str) else until)}
                if options.get("max_gen_toks"):
                    overrides["max_tokens"] = int(options["max_gen_toks"])
                conversations = [conversation(requests[i].args[0]) for i in indices]
                for i, reply in zip(indices, job.answer(conversations, **overrides), strict=True):
                    replies[i] = cut_at_stops(reply, overrides["stop"])
            return replies

        def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[Any]:
            raise ArgumentError(
                "this lm-eval task scores options by log-likelihood, which needs the model's logits, not its "
                f"replies; use a generative task ({', '.join(f'{k}: {v}' for k, v in ALIASES.items())})"
            )

        loglikelihood_rolling = loglikelihood

    return Answering()


def conversation(context: str) -> list[dict[str, Any]]:
    """The messages `apply_chat_template` encoded; text lm-eval put after them (a task's
    `gen_prefix`) joins the last message, since the engines take no assistant prefill."""
    try:
        messages, end = json.JSONDecoder().raw_decode(context)
    except json.JSONDecodeError:
        return [{"role": "user", "content": context}]
    rest = context[end:].strip()
    if rest:
        messages[-1] = {**messages[-1], "content": f"{messages[-1]['content']}\n{rest}"}
    return messages


def cut_at_stops(reply: str, stops: tuple[str, ...]) -> str:
    """The reply up to its first stop string (engines keep the stop in the text)."""
    cut = min((reply.find(s) for s in stops if s and s in reply), default=-1)
    return reply if cut < 0 else reply[:cut]
