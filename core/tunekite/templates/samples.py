"""Built-in conversations every template is checked against (conformance, `tk check template`)."""

from __future__ import annotations

CONVERSATIONS: dict[str, list[dict[str, str]]] = {
    "single turn": [
        {"role": "user", "content": "What is the capital of France?"},
        {"role": "assistant", "content": "The capital of France is Paris."},
    ],
    "multi turn": [
        {"role": "user", "content": "Hi! Can you help me with maths?"},
        {"role": "assistant", "content": "Of course. What do you need?"},
        {"role": "user", "content": "What is 12 * 7?"},
        {"role": "assistant", "content": "12 * 7 = 84."},
        {"role": "user", "content": "And plus 16?"},
        {"role": "assistant", "content": "84 + 16 = 100."},
    ],
    "multi turn with system": [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one, in {braces}?"},
        {"role": "assistant", "content": "{Green}."},
    ],
    "chinese with system": [
        {"role": "system", "content": "你是一个乐于助人的助手。"},
        {"role": "user", "content": "你是谁？"},
        {"role": "assistant", "content": "我是一个人工智能助手。"},
    ],
}
