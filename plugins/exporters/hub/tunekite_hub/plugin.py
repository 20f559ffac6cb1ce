"""Registers the `hub` exporter (ms-swift's --push_to_hub arguments). Light on purpose:
huggingface_hub is imported only by the factory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tunekite.api import ExporterSpec, arg, hookimpl


@dataclass(kw_only=True)
class HubArguments:
    """Where and how the export is pushed; the token is the model group's --hub_token (or the
    one `hf auth login` saved)."""

    hub_model_id: str | None = arg(None, help="hub repo to push to, 'name' or 'user/name' (required)")
    hub_private_repo: bool = arg(False, help="create the hub repo as private")
    commit_message: str = arg("update files", help="message of the hub commit")
    exist_ok: bool = arg(False, help="push a new commit onto a hub repo that already exists (false: stop)")


@hookimpl
def tk_register_exporters(register: Callable[[ExporterSpec], None]) -> None:
    register(
        ExporterSpec(
            name="hub",
            summary="Push the exported folder to the Hugging Face hub (create repo, upload, commit)",
            args=HubArguments,
            factory="tunekite_hub.push:push",
        )
    )


TUNEKITE_API = 1
"""The plugin API this plugin is built for (see `tunekite.api.API_VERSION`)."""
TUNEKITE_REQUIRES = ("huggingface_hub",)
"""What pushing imports; `tk plugins` says so when absent."""
