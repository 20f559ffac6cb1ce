"""`tunekite.testing.serving` stops its server soon even while a client holds a response
open (a browser left on a page does), instead of waiting out the thread's join timeout."""

from __future__ import annotations

import asyncio
import socket
import time

import uvicorn

from tunekite.testing import serving


async def endless(scope, receive, send) -> None:
    """An ASGI app whose one response never ends (a stream the client keeps reading)."""
    await send({"type": "http.response.start", "status": 200, "headers": []})
    while True:
        await send({"type": "http.response.body", "body": b".", "more_body": True})
        await asyncio.sleep(0.05)


def test_a_client_holding_a_stream_open_does_not_hold_up_the_stop() -> None:
    server = uvicorn.Server(
        uvicorn.Config(endless, host="127.0.0.1", port=0, lifespan="off", log_level="error")
    )
    with serving(server, timeout=30.0) as url:
        host, port = url.removeprefix("http://").split(":")
        client = socket.create_connection((host, int(port)))
        client.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        assert client.recv(64).startswith(b"HTTP/1.1 200")
        stopping = time.monotonic()
    took = time.monotonic() - stopping
    client.close()
    assert server.force_exit and took < 10, took
