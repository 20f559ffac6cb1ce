"""A server under test, in a thread of the test's process, on a port the system picks."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def serving(server: Any, timeout: float = 30.0) -> Iterator[str]:
    """Run a `uvicorn.Server` built with `port=0` (e.g. `tunekite.tasks.deploy.build_server`)
    in a thread and yield its base URL, read from the socket it listens on (no free-port
    race); stop it afterwards."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.02)
    host, port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=timeout)
