"""Chatting with a checkpoint: the tuned model (an adapter on its base, or a full
checkpoint) and its base model, each loaded through an installed engine the way `tk run
infer` loads them, and a reply streamed from each."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunekite_webui.runs import run_args


def tuned_argv(checkpoint: Path) -> list[str]:
    """`tk run infer` options for a checkpoint: an adapter folder goes to `--adapters` (its
    base model comes from its args.json), a full model to `--model`."""
    if (Path(checkpoint) / "adapter_config.json").is_file():
        return ["--adapters", str(checkpoint)]
    return ["--model", str(checkpoint)]


def base_argv(checkpoint: Path) -> list[str]:
    """`tk run infer` options for the model the checkpoint was trained from, with the
    template it was trained with."""
    saved = run_args(checkpoint) or run_args(Path(checkpoint).parent)
    if not saved.get("model"):
        from tunekite.api import ArgumentError

        raise ArgumentError(f"{checkpoint}: its args.json names no base model")
    template = saved.get("template")
    return ["--model", str(saved["model"]), *(["--template", str(template)] if template else [])]


def load_engine(argv: list[str], backend: str, host: Any) -> Any:
    """An engine over what `argv` names, through `--infer_backend backend`."""
    from tunekite.api import inference_engine, resolve

    run, _ = resolve("infer", [*argv, "--infer_backend", backend], host)
    return inference_engine(run)


def stream_reply(
    engine: Any, messages: list[dict[str, str]], temperature: float, max_tokens: int
) -> Iterator[str]:
    """The reply to `messages` as text deltas (temperature 0: greedy)."""
    from tunekite.api import ChatRequest

    request = ChatRequest(messages=messages, temperature=temperature, max_tokens=int(max_tokens))
    return engine.stream(request)


def plain(history: list[Any] | None) -> list[dict[str, str]]:
    """A chatbot's messages as `{"role", "content"}` with text content."""
    messages = []
    for item in history or []:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        if isinstance(item, dict) and item.get("role") in ("user", "assistant"):
            messages.append({"role": item["role"], "content": str(content or "")})
    return messages
