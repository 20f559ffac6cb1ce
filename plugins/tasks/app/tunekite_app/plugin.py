"""Registers the `app` task. Light to import: `tk --help` reads it, so gradio, openai and
torch are imported only by the factory (`tunekite_app.page:serve`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from tunekite.api import TaskSpec, arg, hookimpl


@dataclass(kw_only=True)
class AppArguments:
    """`tk run app`: where replies come from, and the Web-UI arguments of ms-swift 3.x."""

    base_url: str | None = arg(
        None, help="an OpenAI-compatible server such as http://host:8000/v1; None loads the model here"
    )
    api_key: str | None = arg(None, secret=True, help="the API key the --base_url server expects")
    infer_backend: str = arg(
        "pt", selects="engines", help="inference engine without --base_url: pt, or a plugin's"
    )
    max_batch_size: int = arg(1, help="prompts the engine generates together (also concurrent page users)")
    server_name: str = arg(
        "127.0.0.1", help="address the page listens on (0.0.0.0: every interface; the page asks for no key)"
    )
    server_port: int = arg(7860, help="port the page listens on")
    share: bool = arg(False, help="also publish the page through a public gradio.live link")
    lang: Literal["zh", "en"] = arg("zh", help="language of the page: zh or en")
    studio_title: str | None = arg(None, help="the page's title; None shows the model name")


@hookimpl
def tk_register_tasks(register: Callable[[TaskSpec], None]) -> None:
    register(
        TaskSpec(
            name="app",
            summary="A Gradio chat page over a model, an adapter or a running `tk run deploy`",
            groups=("model", "template", "generation", "adapters"),
            args=AppArguments,
            factory="tunekite_app.page:serve",
        )
    )

TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("gradio", "openai")
"""What the chat page imports; `tk plugins` says so when absent."""
