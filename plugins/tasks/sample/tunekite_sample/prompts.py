"""The prompts a sampler answers: `--dataset` rows as conversations up to their last user
turn, each with a stable id, cut to this sampler's `--data_range` shard; and the
completions an earlier run wrote (`--cache_files`), found again by those ids."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, TunekiteError

NOT_COLUMNS = ("messages", "tools", "rejected_response", "label")
"""Canonical columns that are not handed to the rewards: the conversation is the prompt, and
a reply's rejection or label means nothing to a sampler that writes its own."""
_ORIGIN = "_tk_sample_origin"


@dataclass(frozen=True)
class Prompt:
    """One conversation to continue: `messages` end with a user turn; `columns` are the
    row's other columns (`solution`, ...), which the rewards receive and the output keeps."""

    id: str
    messages: list[dict[str, Any]]
    tools: Any = None
    columns: dict[str, Any] = field(default_factory=dict)

    def row(self, reply: str | None = None, **extra: Any) -> dict[str, Any]:
        """An output row: the prompt's id, conversation (plus `reply` as the assistant turn),
        tools, columns and `extra` keys, as `tk run sft` and `tk run rlhf` read it."""
        messages = list(self.messages)
        if reply is not None:
            messages.append({"role": "assistant", "content": reply})
        row: dict[str, Any] = {"id": self.id, "messages": messages}
        if self.tools:
            row["tools"] = self.tools
        return {**row, **self.columns, **extra}


def prompt_id(messages: Sequence[Any], tools: Any, columns: dict[str, Any]) -> str:
    """md5 of the prompt and its columns (ms-swift's id): the same row gets the same id in
    every run, so a cache file's completions find their prompt again."""
    serialized = json.dumps({"messages": messages, "tools": tools, **columns}, sort_keys=True, default=str)
    return hashlib.md5(serialized.encode("utf-8")).hexdigest()


def to_prompt(row: dict[str, Any]) -> Prompt:
    """A canonical row as a prompt: its trailing assistant replies are dropped (SFT data
    works as prompts), a row with nothing before its replies names its file and line."""
    messages = [dict(m) for m in row["messages"]]
    while messages and messages[-1]["role"] == "assistant":
        messages.pop()
    if not messages:
        raise TunekiteError(f"{row[_ORIGIN]}: a sample row needs a prompt, and this one has only replies")
    columns = {k: v for k, v in row.items() if k not in (*NOT_COLUMNS, _ORIGIN) and v is not None}
    tools = row.get("tools")
    return Prompt(prompt_id(messages, tools, columns), messages, tools, columns)


def load_prompts(run: Any) -> list[Prompt]:
    """Every `--dataset` row as a prompt, in order."""
    from tunekite.api import load_datasets

    data = run.groups["data"]
    if data.streaming:
        raise ArgumentError("--streaming: tk run sample shards all rows with --data_range; drop --streaming")
    if data.split_dataset_ratio:
        raise ArgumentError(
            f"--split_dataset_ratio {data.split_dataset_ratio}: sample answers every --dataset row; use 0"
        )
    rows, _, dropped = load_datasets(
        data, require_response=False, origin_column=_ORIGIN, host=run.plugin_host
    )
    if getattr(dropped, "total", 0):
        print(f"dropped rows: {dropped}")
    return [to_prompt(row) for row in rows]


def shard(items: Sequence[Any], data_range: Sequence[int]) -> list[Any]:
    """Shard `I` of `N` contiguous, near-equal shards (`--data_range I N`); together the N
    shards hold every item once (ms-swift's drop the remainder)."""
    if not data_range:
        return list(items)
    if len(data_range) != 2:
        raise ArgumentError(
            f"--data_range takes two numbers: the shard (from 0) and how many shards, got {list(data_range)}"
        )
    index, count = data_range
    if count < 1 or not 0 <= index < count:
        raise ArgumentError(f"--data_range {index} {count}: the shard must be from 0 to {count - 1}")
    size = len(items)
    return list(items[size * index // count : size * (index + 1) // count])


def read_cache(files: Sequence[str]) -> dict[str, list[str]]:
    """Completions by prompt id from earlier output files (rows `{id, messages}` whose last
    message is the assistant's completion); a file or line that is not one names itself."""
    cache: dict[str, list[str]] = {}
    for name in files:
        path = Path(name)
        if not path.is_file():
            raise ArgumentError(f"--cache_files {name}: no such file")
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                    messages = row["messages"]
                    reply = messages[-1]
                    uid = str(row["id"])
                except (json.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
                    raise TunekiteError(
                        f"{name}, line {number}: not a sample output row with id and messages ({exc})"
                    ) from None
                if not isinstance(reply, dict) or reply.get("role") != "assistant":
                    raise TunekiteError(
                        f"{name}, line {number}: the last message is not the assistant's completion"
                    )
                cache.setdefault(uid, []).append(str(reply.get("content") or ""))
    return cache
