"""`hub`: a local stand-in for the few Hugging Face hub HTTP endpoints `HfApi.create_repo` and
`HfApi.upload_folder` call, on 127.0.0.1, recording what they received."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


class FakeHub:
    """`repos`: {repo_id: {"private": bool, "commits": [{"summary", "files": {path: bytes}}]}};
    `headers`: the Authorization header of every request."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, Any]] = {}
        self.authorizations: list[str | None] = []
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                hub.authorizations.append(self.headers.get("Authorization"))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                parts = self.path.split("?")[0].strip("/").split("/")
                if parts == ["api", "repos", "create"]:
                    return self._create(json.loads(body))
                if parts[:2] == ["api", "models"] and parts[-2] == "preupload":
                    files = json.loads(body)["files"]
                    listed = [
                        {"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files
                    ]
                    return self._json(200, {"files": listed, "commitOid": "0" * 40})
                if parts[:2] == ["api", "models"] and parts[-2] == "commit":
                    return self._commit("/".join(parts[2:-2]), body)
                return self._json(404, {"error": f"no fake for POST {self.path}"})

            def _create(self, payload: dict[str, Any]) -> None:
                repo_id = f"{payload.get('organization') or 'tester'}/{payload['name']}"
                if repo_id in hub.repos:
                    return self._json(
                        409, {"error": "You already created this model repo", "url": hub.url(repo_id)}
                    )
                private = bool(payload.get("private")) or payload.get("visibility") == "private"
                hub.repos[repo_id] = {"private": private, "commits": []}
                self._json(200, {"url": hub.url(repo_id)})

            def _commit(self, repo_id: str, body: bytes) -> None:
                lines = [json.loads(line) for line in body.decode().splitlines() if line.strip()]
                header = next(item["value"] for item in lines if item["key"] == "header")
                files = {
                    item["value"]["path"]: base64.b64decode(item["value"]["content"])
                    for item in lines
                    if item["key"] == "file"
                }
                hub.repos[repo_id]["commits"].append({"summary": header["summary"], "files": files})
                self._json(200, {"commitUrl": f"{hub.url(repo_id)}/commit/{'1' * 40}", "commitOid": "1" * 40})

            def _json(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, repo_id: str) -> str:
        return f"{self.endpoint}/{repo_id}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A running fake hub that `HF_ENDPOINT` points at."""
    fake = FakeHub()
    fake.thread.start()
    monkeypatch.setenv("HF_ENDPOINT", fake.endpoint)
    yield fake
    if fake.server.socket.fileno() != -1:  # not closed by the test
        fake.close()
