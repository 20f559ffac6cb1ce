"""Prompt-only data for trainers that generate their own completions (GRPO, PPO)."""

from __future__ import annotations

from typing import Any

from tunekite.errors import TunekiteError

NOT_COLUMNS = ("tools", "rejected_response", "label")
"""Canonical columns a prompt row leaves out: the tools are rendered into the prompt, and
a reply's rejection or label means nothing to a trainer that samples its own replies."""
_ORIGIN = "_tk_prompt_origin"


def prompt_datasets(run: Any, template: Any, *, trainer: str) -> tuple[Any, Any]:
    """`--dataset` and the validation rows (None without them) as `{"prompt": text,
    **columns}`: each conversation without its trailing assistant turns, rendered by the
    template as a generation prompt (ending with the reply header); the other columns
    (`messages`, `solution`, ...) stay, for the reward functions. A row with nothing
    before its replies names its file and line, and `trainer`."""
    from tunekite.data.loading import load_datasets

    train, val, dropped = load_datasets(
        run.groups["data"], require_response=False, origin_column=_ORIGIN, host=run.plugin_host
    )
    if getattr(dropped, "total", 0):
        print(f"dropped rows: {dropped}")

    def to_prompt(row: dict[str, Any]) -> dict[str, Any]:
        messages = list(row["messages"])
        while messages and messages[-1]["role"] == "assistant":
            messages.pop()
        if not messages:
            raise TunekiteError(
                f"{row[_ORIGIN]}: a {trainer} row needs a prompt, and this one has only replies"
            )
        return {"prompt": template.render(messages, row.get("tools"), generation=True)}

    def convert(dataset: Any) -> Any:
        if dataset is None:
            return None
        drop = [k for k in (*NOT_COLUMNS, _ORIGIN) if k in (dataset.column_names or [])]
        return dataset.map(to_prompt, remove_columns=drop)

    return convert(train), convert(val)
