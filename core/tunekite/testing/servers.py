"""A server under test, in a thread of the test's process, on a port the system picks."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

_GRACE_S = 3.0
"""How long `serving` lets a stopping server wait for its clients to hang up."""


@contextlib.contextmanager
def serving(server: Any, timeout: float = 30.0) -> Iterator[str]:
    """Run a `uvicorn.Server` built with `port=0` (e.g. `tunekite.tasks.deploy.build_server`)
    in a thread and yield its base URL, read from the socket it listens on (no free-port
    race); stop it afterwards, gracefully for `_GRACE_S`, then by force (uvicorn otherwise
    waits for every client to hang up, and a browser left on a page never does: the thread
    join timed out after 30 s in each of the app's browser tests)."""
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
        thread.join(timeout=_GRACE_S)
        if thread.is_alive():  # a client still holds a connection open: a browser's page does
            server.force_exit = True
            thread.join(timeout=timeout)


@contextlib.contextmanager
def deployed(argv: list[str]) -> Iterator[str]:
    """`tk run deploy argv` (with `--port 0` added) served in a thread, on one torch thread
    (a tiny model gains nothing from more, and on a shared machine they spin); yields its
    base URL and restores the thread count afterwards."""
    import torch

    from tunekite.api import resolve
    from tunekite.tasks.deploy import build_server

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        run, _ = resolve("deploy", [*argv, "--port", "0"])
        with serving(build_server(run)) as url:
            yield url
    finally:
        torch.set_num_threads(threads)
