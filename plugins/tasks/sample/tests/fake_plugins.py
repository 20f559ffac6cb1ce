"""A local plugin for the sample tests (`--custom_register_path`): deterministic rewards
whose choice can be checked by hand, and a scripted engine that writes answers in steps.

- `fake_length`: outcome reward, the completion's length in characters.
- `fake_right`: outcome reward, 1.0 when the completion holds "ANSWER 1", else 0.0.
- `fake_steps`: process reward (`process=True`): per completion the scores `[1.0, x]`,
  x = (its length mod 7) / 7, so its weakest step is x.
- `scripted`: an engine (over the loaded tiny model, which it ignores) whose i-th reply in
  a call continues the answer so far: `STEP<d>-<i>\\n` while fewer than two steps are
  written, then `ANSWER <i mod 2>` (no newline: a finished answer).
"""

from __future__ import annotations

from typing import Any

from tunekite.api import ChatResponse, EngineSpec, RewardSpec, hookimpl


def fake_length(args: Any = None) -> Any:
    def score(completions: list[str], **columns: Any) -> list[float]:
        return [float(len(c)) for c in completions]

    return score


def fake_right(args: Any = None) -> Any:
    def score(completions: list[str], **columns: Any) -> list[float]:
        return [1.0 if "ANSWER 1" in c else 0.0 for c in completions]

    return score


def fake_steps(args: Any = None) -> Any:
    def score(completions: list[str], **columns: Any) -> list[list[float]]:
        return [[1.0, (len(c) % 7) / 7] for c in completions]

    return score


class Scripted:
    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.requests: list[Any] = []

    def infer(self, requests: list[Any]) -> list[Any]:
        self.requests += requests
        out = []
        for i, request in enumerate(requests):
            so_far = "" if request.prompt is None else self.tokenizer.decode(request.prompt)
            depth = so_far.count("STEP")
            text = f"STEP{depth}-{i}\n" if depth < 2 else f"ANSWER {i % 2}"
            out.append(ChatResponse(text=text, finish_reason="stop", prompt_tokens=1, completion_tokens=1))
        return out

    def stream(self, request: Any) -> Any:
        yield self.infer([request])[0].text


def scripted(model: Any, tokenizer: Any, template: Any, args: Any, *, max_batch_size: int = 1) -> Scripted:
    return Scripted(tokenizer)


@hookimpl
def tk_register_rewards(register: Any) -> None:
    register(RewardSpec(name="fake_length", summary="length in characters", factory=fake_length))
    register(RewardSpec(name="fake_right", summary="1 for ANSWER 1", factory=fake_right))
    register(RewardSpec(name="fake_steps", summary="[1, len mod 7 / 7]", factory=fake_steps, process=True))


@hookimpl
def tk_register_engines(register: Any) -> None:
    register(EngineSpec(name="scripted", summary="replies in numbered steps", factory=scripted))
