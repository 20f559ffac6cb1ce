"""The `hub` exporter: `HfApi.create_repo` then `HfApi.upload_folder`, with the endpoint
read from `HF_ENDPOINT` when the push starts. Every hub failure is one line."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from tunekite.api import ArgumentError, TunekiteError
from tunekite_hub.plugin import HubArguments

IGNORED = [".staging-*", ".*.tmp-*"]
"""Unfinished files a crashed step may have left in the folder."""


def push(args: HubArguments, run: Any, source: Path) -> Path:
    """Push `source` (a folder, or the folder holding a file such as the GGUF and its
    Modelfile) to `--hub_model_id`; returns `source` unchanged."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    if not args.hub_model_id:
        raise ArgumentError("--push_to_hub: pass --hub_model_id NAME (or user/NAME)")
    folder = source if source.is_dir() else source.parent
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=run.hub_token)
    where = api.endpoint
    try:
        repo = _create(api, args)
        commit = api.upload_folder(
            repo_id=repo.repo_id,
            folder_path=folder,
            commit_message=args.commit_message,
            ignore_patterns=IGNORED + _holding_token(folder, run.hub_token),
        )
    except OfflineModeIsEnabled:
        raise TunekiteError("--push_to_hub: HF_HUB_OFFLINE is set; unset it to push") from None
    except _transport_errors() as exc:
        raise TunekiteError(
            f"--push_to_hub: cannot reach {where} ({type(exc).__name__}); this machine is offline or "
            f"HF_ENDPOINT is wrong. Push later with `hf upload {args.hub_model_id} {folder}`"
        ) from None
    except HfHubHTTPError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TunekiteError(f"--push_to_hub: {where} refused: {first}") from None
    from rich.console import Console

    Console(stderr=True, highlight=False).print(f"pushed {folder} to {commit.commit_url}")
    return source


def _create(api: Any, args: HubArguments) -> Any:
    """The repo, created (private when asked); one that exists only with --exist_ok true."""
    from huggingface_hub.errors import HfHubHTTPError

    try:
        return api.create_repo(args.hub_model_id, private=args.hub_private_repo, exist_ok=args.exist_ok)
    except HfHubHTTPError as exc:
        if exc.response is not None and exc.response.status_code == 409:
            raise ArgumentError(
                f"--push_to_hub: {args.hub_model_id} already exists on {api.endpoint}; "
                "pass --exist_ok true to push onto it"
            ) from None
        raise


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection failures of the HTTP client huggingface_hub uses (httpx, or its httpx2
    fork in the 2.x releases), once huggingface_hub has imported it."""
    return tuple(sys.modules[name].TransportError for name in ("httpx", "httpx2") if name in sys.modules)


def _holding_token(folder: Path, token: str | None) -> list[str]:
    """args.json files that hold the --hub_token (the run writes its arguments there): never
    uploaded, so a pushed repo cannot leak the token."""
    if not token:
        return []
    held = [p for p in folder.rglob("args.json") if token in p.read_text(encoding="utf-8", errors="replace")]
    return [p.relative_to(folder).as_posix() for p in held]
