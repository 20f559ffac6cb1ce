"""`tk run infer`: a terminal chat, or a dataset answered into a jsonl file.

Reads top to bottom: fill the model from the checkpoint's args.json, load the model
with its adapter (merged when asked), build the engine the run selects, then chat or
answer the dataset in chunks of `--write_batch_size` rows.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.arguments.parser import ARGS_FILE
from tunekite.engines.protocol import ChatRequest, Engine, generation_settings
from tunekite.errors import ArgumentError
from tunekite.tasks.loading import (
    is_written,
    load_for_inference,
    merge_and_save,
    merged_folder,
    parse_adapters,
    with_checkpoint_args,
)

if TYPE_CHECKING:
    from tunekite.launcher import Run


def run(run: Run) -> Path | None:
    """The `infer` task: the results file in batch mode, None after a chat."""
    from rich.console import Console

    if run.metric and not (run.dataset or run.val_dataset):
        raise ArgumentError("--metric scores a dataset's replies: pass --val_dataset with reference replies")
    run = with_checkpoint_args(run)  # first: names a missing plugin before any heavy import
    engine = _engine(run)
    if run.dataset or run.val_dataset:
        target = infer_dataset(run, engine)
        Console(stderr=True, highlight=False).print(f"results: {target}")
        if run.metric:
            print(f"metric: {json.dumps(score_results(target, run.metric))}")
        return target
    from tunekite.tasks.chat import chat

    chat(engine, generation_settings(run.groups["generation"]), stream=run.stream)
    return None


def inference_engine(run: Run) -> Engine:
    """The engine `tk run infer` chats with, for a resolved `infer` run (`tunekite.api.resolve`):
    the checkpoint's base model and template filled in, its adapter applied (merged with
    `--merge_lora`), served by the `--infer_backend` engine."""
    return _engine(with_checkpoint_args(run))


def _engine(run: Run) -> Engine:
    from transformers import set_seed

    set_seed(run.seed)
    if not run.merge_lora or run.component("engines").loads_model:
        return engine_for(run)
    model, tokenizer, template = load_for_inference(run)
    return build_engine(run, _merged(run, model, tokenizer), tokenizer, template)


def _merged(run: Run, model: Any, tokenizer: Any) -> Any:
    """ms-swift: `--merge_lora true` writes `<adapter>-merged` once, then infers with it."""
    if not run.adapters:
        raise ArgumentError("--merge_lora needs --adapters: there is no LoRA adapter to merge")
    target = merged_folder(run.adapters[0])
    if is_written(target):
        return model.merge_and_unload()  # the same weights the folder holds, without a reload
    return merge_and_save(
        model,
        tokenizer,
        target,
        safe_serialization=run.safe_serialization,
        max_shard_size=run.max_shard_size,
        run=run,
    )


def engine_for(run: Run) -> Engine:
    """The `--infer_backend` engine over the run's model and adapters, as `tk run infer`
    builds it without `--merge_lora`, for tasks that generate (`tk run sample`). Call
    `with_checkpoint_args(run)` first when `--adapters` should fill the model."""
    if run.component("engines").loads_model:
        return build_folder_engine(run)
    return build_engine(run, *load_for_inference(run))


def build_engine(run: Run, model: Any, tokenizer: Any, template: Any) -> Engine:
    """The engine `--infer_backend` names, through its `EngineSpec` factory."""
    spec = run.component("engines")
    return spec.load()(
        model, tokenizer, template, run.component_args(spec), max_batch_size=run.max_batch_size
    )


def build_folder_engine(run: Run) -> Engine:
    """An engine whose spec has `loads_model`: it gets the model's folder, not a model (see
    `EngineSpec`); with `--merge_lora` the adapter is merged into a folder first."""
    from tunekite.models.loader import load_tokenizer, model_folder
    from tunekite.templates.resolve import build_template

    spec = run.component("engines")
    adapters = list(run.adapters)
    if getattr(run, "merge_lora", False):  # an infer argument; deploy has none
        if not (run.adapters and is_written(merged_folder(run.adapters[0]))):
            _merged(run, *load_for_inference(run)[:2])
        folder, adapters = merged_folder(run.adapters[0]), []
    else:
        folder = model_folder(run)
        if folder is None:
            raise ArgumentError(f"--infer_backend {spec.name} needs a model folder; this model has none")
    margs = run.groups["model"]
    tokenizer = load_tokenizer(run)
    template = build_template(
        tokenizer, run.groups["template"], margs.model, margs.model_type, host=run.plugin_host
    )
    return spec.load()(
        folder,
        tokenizer,
        template,
        run.component_args(spec),
        max_batch_size=run.max_batch_size,
        adapters=adapters,
        torch_dtype=margs.torch_dtype,
        seed=run.seed,
    )


def split_row(row: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    """The prompt (messages up to the last user turn) and the reference reply after it."""
    messages = [dict(m) for m in row["messages"]]
    last_user = max((i for i, m in enumerate(messages) if m["role"] == "user"), default=None)
    if last_user is None:
        return messages, None
    following = messages[last_user + 1] if last_user + 1 < len(messages) else None
    label = following["content"] if following and following["role"] == "assistant" else None
    return messages[: last_user + 1], label


def inference_rows(run: Run) -> Iterable[Mapping[str, Any]]:
    """`--val_dataset` rows, else `--dataset` rows (only the held-out part when
    `--split_dataset_ratio` > 0, as ms-swift infers on a training run's validation split)."""
    from tunekite.data.loading import load_datasets

    data = run.groups["data"]
    if data.val_dataset:
        data = dataclasses.replace(
            data, dataset=list(data.val_dataset), val_dataset=[], split_dataset_ratio=0.0
        )
    train, val, _ = load_datasets(data, require_response=False, host=run.plugin_host)
    rows = val if val is not None else train
    return itertools.islice(rows, run.val_dataset_sample) if run.val_dataset_sample is not None else rows


def infer_dataset(run: Run, engine: Engine) -> Path:
    """Answer every row and append `{response, labels, messages[, tools, logprobs]}` lines
    to `--result_path`, `--write_batch_size` rows at a time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = Path(run.result_path) if run.result_path else default_result_folder(run) / f"{stamp}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    settings = generation_settings(run.groups["generation"])
    with target.open("w", encoding="utf-8") as out:
        for chunk in _chunks(inference_rows(run), run.write_batch_size):
            prompts = [(*split_row(row), row.get("tools")) for row in chunk]
            requests = [ChatRequest(messages=m, tools=tools, **settings) for m, _, tools in prompts]
            for (messages, label, tools), response in zip(prompts, engine.infer(requests), strict=True):
                record: dict[str, Any] = {
                    "response": response.text,
                    "labels": label,
                    "messages": [*messages, {"role": "assistant", "content": response.text}],
                }
                if tools:
                    record["tools"] = tools
                if response.logprobs is not None:
                    record["logprobs"] = [dataclasses.asdict(t) for t in response.logprobs]
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            out.flush()
    return target


def score_results(results: Path, metric: str) -> dict[str, float]:
    """`--metric` over a results file's rows that have a reference (`labels`), written to
    `<results>.metric.json` as ms-swift's `acc` or `rouge-l`/`bleu-4` means."""
    from tunekite.evaluation.metrics import text_scores
    from tunekite.run_folder import write_json

    rows = [json.loads(line) for line in results.read_text(encoding="utf-8").splitlines()]
    pairs = [(row["response"], row["labels"]) for row in rows if row.get("labels") is not None]
    if not pairs:
        raise ArgumentError(f"--metric {metric}: no row of the dataset has a reference reply to score")
    scores = {**text_scores(metric, *map(list, zip(*pairs, strict=True))), "samples": len(pairs)}
    write_json(results.with_name(f"{results.name}.metric.json"), scores)
    return scores


def default_result_folder(run: Run) -> Path:
    """ms-swift's place for results without --result_path: `infer_result/` in the checkpoint
    (the first adapter, or a model folder a run wrote), else in `result/<model name>/`."""
    adapters = [path for _, path in parse_adapters(run.adapters)]
    model = Path(str(run.model).rstrip("/"))
    if adapters:
        folder = Path(adapters[0])
    elif (model / ARGS_FILE).is_file():
        folder = model
    else:
        folder = Path("result") / model.name
    return folder / "infer_result"


def _chunks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
