"""Registers the `web-ui` task. Light to import: `tk --help` reads it, so gradio and torch
are imported only by the factory (`tunekite_webui.page:serve`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import TaskSpec, arg, hookimpl


@dataclass(kw_only=True)
class WebUIArguments:
    """`tk run web-ui`: ms-swift 3.x's web-ui arguments."""

    server_name: str = arg(
        "127.0.0.1", help="address the page listens on (0.0.0.0: every interface; the page asks for no key)"
    )
    server_port: int = arg(7860, help="port the page listens on")
    share: bool = arg(False, help="also publish the page through a public gradio.live link")
    lang: Literal["zh", "en"] = arg("zh", help="language of the page: zh or en")
    studio_title: str | None = arg(None, help="the page's title; None: TuneKite")


@hookimpl
def tk_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(
        TaskSpec(
            name="web-ui",
            summary="A Gradio page to train, watch runs, chat with checkpoints and export them",
            args=WebUIArguments,
            factory="tunekite_webui.page:serve",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("gradio",)
"""What the page imports; `tk plugins` says so when absent."""
