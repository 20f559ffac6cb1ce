"""Fixtures of the app tests: a fake OpenAI-compatible server (on a port the system picks). The
headless Chromium is core's `tk_browser` fixture (`tunekite.testing.browser`)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

FAKE_MODEL = "fake-model"
FAKE_KEY = "secret-key"


# A fake OpenAI-compatible server ---------------------------------------------------------


def fake_reply(messages: list[dict[str, Any]]) -> str:
    """What the fake server answers: which user turn this is, and the user's words."""
    users = [m for m in messages if m["role"] == "user"]
    return f"Echo {len(users)}: {users[-1]['content']}"


class FakeOpenAI(BaseHTTPRequestHandler):
    """`GET /v1/models` and `POST /v1/chat/completions` (plain and SSE), behind a bearer key."""

    requests: list[dict[str, Any]]

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _send_json(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {FAKE_KEY}":
            return True
        self._send_json(401, {"error": {"message": "bad key", "type": "invalid_request_error"}})
        return False

    def do_GET(self) -> None:
        if not self._authorized():
            return
        if self.path.rstrip("/") == "/v1/models":
            model = {"id": FAKE_MODEL, "object": "model", "created": 0, "owned_by": "test"}
            self._send_json(200, {"object": "list", "data": [model]})
        else:
            self._send_json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)  # type: ignore[attr-defined]
        reply = fake_reply(body["messages"])
        base = {"id": "chatcmpl-1", "created": 0, "model": body["model"]}
        if not body.get("stream"):
            choice = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply}}
            usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
            self._send_json(200, {**base, "object": "chat.completion", "choices": [choice], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        pieces = [{"role": "assistant", "content": ""}]
        words = reply.split(" ")
        pieces += [{"content": w if i == 0 else " " + w} for i, w in enumerate(words)]
        for i, delta in enumerate(pieces):
            last = i == len(pieces) - 1
            choice = {"index": 0, "delta": delta, "finish_reason": "stop" if last else None}
            chunk = {**base, "object": "chat.completion.chunk", "choices": [choice]}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.02)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


@pytest.fixture
def fake_openai() -> Iterator[ThreadingHTTPServer]:
    """A fake OpenAI-compatible server on 127.0.0.1: `.url` is its base_url, `.requests`
    the chat completion bodies it received, `.model` / `.key` / `.reply` what it serves."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    server.daemon_threads = True
    server.requests = []  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/v1"  # type: ignore[attr-defined]
    server.model, server.key, server.reply = FAKE_MODEL, FAKE_KEY, fake_reply  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
