"""Where the sampler's completions come from: an engine in this process (`--sampler_engine
pt`, `vllm`, ...), a running OpenAI-compatible server (`client`, at `--base_url`), or
nowhere (`no`: every completion comes from `--cache_files`)."""

from __future__ import annotations

from typing import Any

from tunekite.api import ArgumentError

CLIENT = "client"


def generates(run: Any) -> bool:
    """Whether the run has something that generates (else it only scores the cache)."""
    return bool(run.components.get("engines")) or run.sampler_engine == CLIENT


def check_server_arguments(run: Any) -> None:
    """`--base_url` / `--api_key` mean something only to the client engine, which needs the URL."""
    if run.sampler_engine == CLIENT and not run.base_url:
        raise ArgumentError("--sampler_engine client samples from a server: give its --base_url")
    if run.sampler_engine != CLIENT:
        given = [name for name in ("base_url", "api_key") if getattr(run, name)]
        if given:
            raise ArgumentError(
                f"--{given[0]} is read by --sampler_engine client; --sampler_engine is {run.sampler_engine}"
            )


def build_engine(run: Any) -> Any:
    """The engine `--sampler_engine` names, or the client of the `--base_url` server, whose
    `--max_batch_size` requests are in flight at a time."""
    from tunekite.api import ClientEngine, engine_for

    if run.sampler_engine == CLIENT:
        return ClientEngine(
            run.base_url, api_key=run.api_key, concurrency=run.max_batch_size, option="--base_url"
        )
    return engine_for(run)
