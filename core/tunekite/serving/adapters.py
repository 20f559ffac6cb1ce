"""LoRA adapters served under their own model names, loaded and unloaded while serving.

The engine holds them (the pt engine in one `peft.PeftModel`, vLLM as LoRA requests) and
activates the one a request names; the base model name runs with every adapter disabled.
Engines that can change their adapters while running have `load_adapter(name, folder)` and
`unload_adapter(name)`; both run on the generation thread, between batches
(`AsyncEngine.run_exclusive`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tunekite.engines.batching import AsyncEngine
from tunekite.errors import ArgumentError
from tunekite.serving.schemas import APIError


class AdapterManager:
    """The named adapters of an engine; `named` maps the names loaded at start-up to their
    folders."""

    def __init__(self, front: AsyncEngine, named: dict[str, str], reserved: set[str]) -> None:
        self.front = front
        self.folders = dict(named)
        self.reserved = reserved
        """Names no adapter may take (the served model's)."""

    def adapter_of(self, model_name: str) -> str | None:
        """The adapter a request for `model_name` runs with (None for a reserved name)."""
        if model_name in self.folders:
            return model_name
        if model_name in self.reserved:
            return None
        known = ", ".join(sorted([*self.reserved, *self.folders]))
        raise APIError(
            400,
            f"The model {model_name!r} does not exist; served: {known}.",
            code="model_not_found",
            param="model",
        )

    async def load(self, name: str, folder: str) -> None:
        """Load the adapter saved in `folder` under `name`; 400 when that is not possible."""
        if name in self.folders or name in self.reserved:
            raise APIError(400, f"A model named {name!r} is already served; unload it first.", param="name")
        if not Path(folder).is_dir():
            raise APIError(400, f"No such adapter folder: {folder}", param="path")
        engine = self._engine()
        try:
            await self.front.run_exclusive(lambda: engine.load_adapter(name, folder))
        except (ArgumentError, ValueError, OSError) as exc:
            raise APIError(400, f"Cannot load adapter {name!r} from {folder}: {exc}", param="path") from None
        self.folders[name] = folder

    async def unload(self, name: str) -> None:
        """Remove adapter `name` from the model; 404 when no such adapter is served."""
        if name not in self.folders:
            raise APIError(404, f"No adapter named {name!r} is loaded.", code="model_not_found", param="name")
        engine = self._engine()
        await self.front.run_exclusive(lambda: engine.unload_adapter(name))
        del self.folders[name]

    def _engine(self) -> Any:
        engine = self.front.engine
        if not hasattr(engine, "load_adapter"):
            raise APIError(400, f"The {type(engine).__name__} engine cannot load adapters while serving.")
        return engine
