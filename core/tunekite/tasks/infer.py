"""`tk run infer`: a terminal chat, or batch answers for a dataset written as jsonl."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from tunekite.engines.protocol import request_from_generation
from tunekite.tasks.loading import load_for_inference


def infer(run: Any) -> int:
    model, tokenizer, template = load_for_inference(run, merge=run.merge_lora)
    spec = run.component("engines")
    engine = spec.load()(
        model, tokenizer, template, run.component_args(spec), max_batch_size=run.max_batch_size
    )
    if run.val_dataset or run.dataset:
        return batch(run, engine)
    return chat(run, engine)


def batch(run: Any, engine: Any) -> int:
    """Every row's prompt (its messages up to the last user turn) answered; the reference
    reply, when the row has one, is kept as `labels`."""
    from rich.console import Console

    from tunekite.data.loading import load_datasets

    data = run.groups["data"]
    source = data.val_dataset or data.dataset
    rows, _, _ = load_datasets(
        dataclasses.replace(data, dataset=list(source), val_dataset=[], split_dataset_ratio=0.0),
        require_response=False,
    )
    prompts, labels = [], []
    for row in rows:
        messages = list(row["messages"])
        label = messages.pop()["content"] if messages and messages[-1]["role"] == "assistant" else None
        prompts.append((messages, row.get("tools")))
        labels.append(label)
    requests = [request_from_generation(m, run.groups["generation"], tools) for m, tools in prompts]
    responses = engine.infer(requests)
    target = (
        Path(run.result_path)
        if run.result_path
        else (run.output_dir / "infer_result" / f"{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", encoding="utf-8") as out:
        for (messages, _), label, response in zip(prompts, labels, responses, strict=True):
            record = {
                "messages": messages,
                "response": response.text,
                "labels": label,
                "finish_reason": response.finish_reason,
            }
            if response.logprobs is not None:
                record["logprobs"] = response.logprobs
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    Console(stderr=True).print(f"{len(responses)} answers written to {target}")
    return 0


def chat(run: Any, engine: Any) -> int:
    """Multi-turn chat on stdin/stdout: `clear` forgets the history, `exit` (or EOF) ends."""
    from rich.console import Console

    console = Console(highlight=False)
    console.print("[dim]chat: type a message; 'clear' resets the history, 'exit' quits[/]")
    history: list[dict[str, str]] = []
    if run.system:
        history.append({"role": "system", "content": run.system})
    while True:
        try:
            line = input("<<< ")
        except EOFError:
            return 0
        text = line.strip()
        if text in ("exit", "quit"):
            return 0
        if text == "clear":
            history = history[:1] if history and history[0]["role"] == "system" else []
            console.print("[dim]history cleared[/]")
            continue
        if not text:
            continue
        history.append({"role": "user", "content": text})
        request = request_from_generation(list(history), run.groups["generation"])
        if run.stream:
            parts = []
            for delta in engine.stream(request):
                parts.append(delta)
                sys.stdout.write(delta)
                sys.stdout.flush()
            sys.stdout.write("\n")
            reply = "".join(parts)
        else:
            reply = engine.infer([request])[0].text
            console.print(reply, markup=False)
        history.append({"role": "assistant", "content": reply})
