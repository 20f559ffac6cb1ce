"""The uvicorn server of `tk run deploy`, which stops in bounded time.

On SIGTERM or Ctrl-C it fails every request waiting or generating with a 503 at once (their
generation stops at the next token), then gives open connections `SHUTDOWN_GRACE` seconds
before cancelling what is left, so a long request cannot hold the process.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn

from tunekite.engines.batching import AsyncEngine
from tunekite.serving.schemas import APIError

SHUTDOWN_GRACE = 5.0
"""Seconds open connections get to finish after the in-flight requests were failed."""


class Server(uvicorn.Server):
    """`uvicorn.Server` over the app of `create_app`; `port` is the port it listens on
    (the one the system chose for `port=0`, once `started`)."""

    def __init__(self, app: Any, *, host: str, port: int, access_log: bool) -> None:
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            access_log=access_log,
            log_level="info",
            timeout_graceful_shutdown=SHUTDOWN_GRACE,
        )
        super().__init__(config)
        self.front: AsyncEngine = app.state.front

    @property
    def port(self) -> int:
        listener: socket.socket = self.servers[0].sockets[0]
        return listener.getsockname()[1]

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.front.cancel_all(
            APIError(503, "The server is shutting down.", type="server_error", code="shutting_down")
        )
        await super().shutdown(sockets)
