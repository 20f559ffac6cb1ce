"""Canonical rows to TRL's inputs, rendered with OUR template and tokenized here.

Core's loader has already turned every supported format into canonical rows
(`messages`, `rejected_response`, `label`, `tools`; preference `chosen`/`rejected` and
KTO `label` rows included). For a row whose conversation ends with the reply:

- prompt     = `template.render(messages without the reply, tools, generation=True)`: the
               conversation so far ending with the assistant header, as at inference;
- completion = the reply as the template renders it (thinking handling, tool calls) plus
               the end-of-turn text `format.assistant_end`; the rejected completion is the
               same with `rejected_response` as the reply.

Prompt and completion are tokenized separately without special tokens (the template
writes BOS/EOS where the family has them), so TRL never adds a BOS or EOS of its own and
the prompt ids are exactly the generation prompt's. Earlier replies sit in the prompt,
untrained (ms-swift's `last_round` loss scale for RLHF).

A row that lacks what the algorithm needs (no rejected reply for dpo, no label or pair for
kto) stops the run with `--strict true`, naming its file and line, and is otherwise
dropped and counted.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from tunekite.api import TunekiteError

PAIRED = ("dpo", "orpo", "simpo", "cpo", "rm")
_REASON = "_tk_rlhf_drop"
_ORIGIN = "_tk_rlhf_origin"  # where a row came from (file and line), for errors
_REPLY_ROLES = ("assistant", "tool_call")
_NOT_COMPLETION = ("sep", "suffix")


class BadRow(ValueError):
    """A row this algorithm cannot train on; `reason` is short, for counting."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def split_reply(template: Any, messages: list[dict[str, str]], tools: Any = None) -> tuple[str, str, list]:
    """(prompt text, completion text, messages before the reply) of a conversation that ends
    with a reply (its trailing assistant/tool_call messages)."""
    cut = len(messages)
    while cut and messages[cut - 1]["role"] in _REPLY_ROLES:
        cut -= 1
    if cut == len(messages):
        raise BadRow("no reply", "the conversation does not end with an assistant turn")
    if cut == 0:
        raise BadRow("no prompt", "the conversation has no message before the reply")
    context = list(messages[:cut])
    return (
        template.render(context, tools, generation=True),
        completion_text(template, messages, tools),
        context,
    )


def completion_text(template: Any, messages: list[dict[str, str]], tools: Any = None) -> str:
    """The last reply as the template renders it, up to and including its end-of-turn text."""
    pieces = template.pieces(messages, tools)
    header = max(i for i, p in enumerate(pieces) if p.kind == "header")
    return "".join(p.text for p in pieces[header + 1 :] if p.kind not in _NOT_COMPLETION)


def with_reply(context: list[dict[str, str]], reply: str) -> list[dict[str, str]]:
    return [*context, {"role": "assistant", "content": reply}]


def convert_row(row: dict[str, Any], template: Any, rlhf_type: str) -> list[dict[str, Any]]:
    """One canonical row as TRL text rows: `{prompt, chosen, rejected}` for paired
    algorithms, `{prompt, completion, label}` for kto (a pair gives two rows)."""
    messages, tools = list(row["messages"] or []), row.get("tools")
    rejected, label = row.get("rejected_response"), row.get("label")
    prompt, chosen, context = split_reply(template, messages, tools)
    if rlhf_type == "kto":
        if label is not None:
            return [{"prompt": prompt, "completion": chosen, "label": bool(label)}]
        if rejected is None:
            raise BadRow("no kto label", "kto needs a `label` (true/false) or a chosen/rejected pair")
        bad = completion_text(template, with_reply(context, rejected), tools)
        return [
            {"prompt": prompt, "completion": chosen, "label": True},
            {"prompt": prompt, "completion": bad, "label": False},
        ]
    if rejected is None:
        why = "it is a kto row (label) " if label is not None else ""
        raise BadRow(
            "no rejected response",
            f"{why}without rejected_response; {rlhf_type} needs chosen/rejected pairs",
        )
    bad = completion_text(template, with_reply(context, rejected), tools)
    return [{"prompt": prompt, "chosen": chosen, "rejected": bad}]


def load_rows(run: Any, template: Any) -> tuple[Any, Any]:
    """`--dataset`/`--val_dataset` as TRL text rows for the run's trainer (train, val or None)."""
    from tunekite.api import load_datasets

    train, val, _ = load_datasets(
        run.groups["data"],
        max_steps=run.max_steps,
        require_response=True,
        origin_column=_ORIGIN,
        host=run.plugin_host,
    )
    strict = run.groups["data"].strict
    return (
        convert(train, template, run.spec.name, strict=strict, name="training set"),
        None if val is None else convert(val, template, run.spec.name, strict=strict, name="validation set"),
    )


def convert(dataset: Any, template: Any, rlhf_type: str, *, strict: bool, name: str) -> Any:
    """Every row converted; bad rows raise (strict) or are dropped with a count."""
    from datasets import IterableDataset

    if isinstance(dataset, IterableDataset):
        raise TunekiteError(f"--streaming is not supported by {rlhf_type}: pass it without streaming")
    keys = ("prompt", "completion", "label") if rlhf_type == "kto" else ("prompt", "chosen", "rejected")

    def batch(rows: dict[str, list], indices: list[int]) -> dict[str, list]:
        out: dict[str, list] = {k: [] for k in (*keys, _REASON)}
        for i, index in enumerate(indices):
            row = {k: v[i] for k, v in rows.items()}
            try:
                converted = convert_row(row, template, rlhf_type)
            except BadRow as exc:
                if strict:
                    where = row.get(_ORIGIN) or f"{name}, row {index + 1}"
                    raise TunekiteError(
                        f"{where} ({_preview(row)}): {exc.reason}: {exc.detail}. "
                        "Fix the row, or pass --strict false to drop such rows."
                    ) from None
                converted = [{**dict.fromkeys(keys), _REASON: exc.reason}]
            for item in converted:
                for k in keys:
                    out[k].append(item.get(k))
                out[_REASON].append(item.get(_REASON))
        return out

    mapped = dataset.map(
        batch,
        batched=True,
        with_indices=True,
        remove_columns=dataset.column_names,
        load_from_cache_file=False,
    )
    reasons = Counter(r for r in mapped[_REASON] if r is not None)
    if reasons:
        if sum(reasons.values()) == len(mapped):
            first = next(iter(reasons))
            raise TunekiteError(f"{name}: no row is usable for {rlhf_type} (e.g. {first})")
        counts = ", ".join(f"{n} x {reason}" for reason, n in reasons.most_common())
        print(
            f"{name}: dropped {sum(reasons.values())} row(s) that {rlhf_type} cannot use: {counts} "
            "(use --strict true to fail on them instead)"
        )
        mapped = mapped.filter(lambda r: r[_REASON] is None)
    return mapped.remove_columns(_REASON)


def _preview(row: dict[str, Any]) -> str:
    user = next((m["content"] for m in row.get("messages") or [] if m["role"] == "user"), "")
    text = user if len(user) <= 60 else user[:57] + "..."
    return f"user: {text!r}"


def tokens(tokenizer: Any, text: str) -> list[int]:
    """Ids of a rendered piece of text: the template wrote every special token itself."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def tokenize_pairs(dataset: Any, tokenizer: Any) -> Any:
    """Adds `prompt_ids`, `chosen_ids`, `rejected_ids` (completions without the prompt)."""
    return dataset.map(
        lambda r: {
            "prompt_ids": tokens(tokenizer, r["prompt"]),
            "chosen_ids": tokens(tokenizer, r["chosen"]),
            "rejected_ids": tokens(tokenizer, r["rejected"]),
        },
        load_from_cache_file=False,
    )


def tokenize_unpaired(dataset: Any, tokenizer: Any) -> Any:
    """Adds `prompt_ids` and `completion_ids` (kto)."""
    return dataset.map(
        lambda r: {
            "prompt_ids": tokens(tokenizer, r["prompt"]),
            "completion_ids": tokens(tokenizer, r["completion"]),
        },
        load_from_cache_file=False,
    )


def tokenize_full(dataset: Any, tokenizer: Any) -> Any:
    """rm: whole conversations, `chosen_ids`/`rejected_ids` = prompt + reply ids."""
    return dataset.map(
        lambda r: {
            "chosen_ids": tokens(tokenizer, r["prompt"]) + tokens(tokenizer, r["chosen"]),
            "rejected_ids": tokens(tokenizer, r["prompt"]) + tokens(tokenizer, r["rejected"]),
        },
        remove_columns=["prompt", "chosen", "rejected"],
        load_from_cache_file=False,
    )
