"""The terminal chat of `tk run infer` without a dataset: `<<< ` prompts on stdin, replies on
stdout, so it works typed by hand or with lines piped in."""

from __future__ import annotations

from typing import Any

from tunekite.engines.protocol import ChatRequest, Engine

EXIT = ("exit", "quit")
CLEAR = "clear"


def chat(engine: Engine, settings: dict[str, Any], *, stream: bool = False) -> None:
    """Multi-turn chat: each reply joins the history; `clear` forgets it; `exit`, `quit` or
    end of input ends. `stream` prints the reply as it is generated."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    console.print(f"[dim]Chat: '{CLEAR}' forgets the history, '{EXIT[0]}' quits.[/]")
    history: list[dict[str, str]] = []
    while True:
        try:
            line = console.input("<<< ")
        except EOFError:
            console.print()
            return
        text = line.strip()
        if text in EXIT:
            return
        if text == CLEAR:
            history.clear()
            console.print("[dim]History cleared.[/]")
            continue
        if not text:
            continue
        history.append({"role": "user", "content": text})
        request = ChatRequest(messages=list(history), **settings)
        if stream:
            parts = []
            for delta in engine.stream(request):
                parts.append(delta)
                console.out(delta, end="")
                console.file.flush()
            reply = "".join(parts)
            console.out("")
        else:
            reply = engine.infer([request])[0].text
            console.out(reply)
        console.print("[dim]" + "-" * 50 + "[/]")
        history.append({"role": "assistant", "content": reply})
