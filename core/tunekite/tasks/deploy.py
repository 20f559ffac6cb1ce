"""`tk run deploy`: serve a model, and its LoRA adapters by name, over an OpenAI-compatible
HTTP API (FastAPI + uvicorn).

Reads top to bottom: fill the model from the checkpoint's args.json, load the model with
every `--adapters` entry (or, for an engine that loads its own weights, give it the model
folder and the adapters), build the engine `--infer_backend` names behind the batching
async front, then serve. A plain adapter path is the served model itself; `name=path`
adapters are served next to the base model under their names. It listens on 127.0.0.1
unless `--host` says otherwise, and warns when it listens further without `--api_key`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunekite.errors import ArgumentError
from tunekite.tasks.infer import build_engine, build_folder_engine
from tunekite.tasks.loading import DEFAULT_ADAPTER, load_for_inference, parse_adapters, with_checkpoint_args

if TYPE_CHECKING:
    from tunekite.launcher import Run


def run(run: Run) -> None:
    """The `deploy` task: serve until interrupted."""
    build_server(run).run()


def build_server(run: Run) -> Any:
    """A `tunekite.serving.server.Server` (uvicorn's) ready to `run()`; tests run it in a
    thread, read `port` once `started`, and set `should_exit`."""
    from transformers import set_seed

    from tunekite.engines.batching import AsyncEngine
    from tunekite.serving.app import ServeOptions, create_app
    from tunekite.serving.exposure import warn_if_exposed
    from tunekite.serving.server import Server

    adapter_dirs = _adapter_dirs(run.adapter_dirs)  # before minutes of loading
    set_seed(run.seed)
    run = with_checkpoint_args(run)
    if run.component("engines").loads_model:  # vLLM, LMDeploy: the folder, not a loaded model
        engine = build_folder_engine(run)
    else:
        engine = build_engine(run, *load_for_inference(run))
    adapters = parse_adapters(run.adapters)
    if hasattr(engine, "default_adapter"):  # the base model name runs without named adapters
        engine.default_adapter = DEFAULT_ADAPTER if any(name is None for name, _ in adapters) else None
    options = ServeOptions(
        served_model_name=run.served_model_name or Path(str(run.model).rstrip("/")).name,
        owned_by=run.owned_by,
        api_key=run.api_key,
        max_logprobs=run.max_logprobs,
        log_interval=run.log_interval,
        adapter_dirs=adapter_dirs,
    )
    app = create_app(AsyncEngine(engine), options, {name: path for name, path in adapters if name})
    if run.api_key is None:
        advice = "Pass --api_key KEY to require a key, or --host 127.0.0.1 to serve this machine only."
        warn_if_exposed(run.host, run.port, "tk run deploy", advice)
    return Server(app, host=run.host, port=run.port, access_log=run.verbose)


def _adapter_dirs(folders: list[str]) -> tuple[str, ...]:
    """`--adapter_dirs`, each an existing folder."""
    for folder in folders:
        if not Path(folder).is_dir():
            raise ArgumentError(f"--adapter_dirs {folder}: no such folder")
    return tuple(folders)
