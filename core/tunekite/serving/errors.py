"""Unexpected errors as clean 500s that keep the connection open.

Starlette answers an exception no handler took with a 500 and then re-raises it, and
uvicorn closes the connection on an exception from the app: the client's next request on
that keep-alive connection is reset. `CleanErrors` sits inside Starlette's error middleware
and turns such an exception into an OpenAI error body itself, so nothing is re-raised; the
exception's text, which may hold paths, goes to the server's log only.
"""

from __future__ import annotations

import logging
from typing import Any

from starlette.responses import JSONResponse

from tunekite.serving.schemas import APIError

log = logging.getLogger("uvicorn.error")


def server_error(exc: BaseException) -> APIError:
    """The 500 a client sees for `exc`, logged here with its traceback."""
    log.error("request failed", exc_info=exc)
    return APIError(500, "Internal server error (the server's log has the details).", type="server_error")


class CleanErrors:
    """ASGI middleware: an exception before the response began is answered as a 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:  # half a response is out: only closing the connection ends it
                raise
            error = server_error(exc)
            await JSONResponse(error.body(), status_code=error.status)(scope, receive, send)
