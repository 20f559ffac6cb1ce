"""LoRA adapters served under their own model names, loaded and unloaded while serving.

The engine holds them (the pt engine in one `peft.PeftModel`, vLLM as LoRA requests) and
activates the one a request names; the base model name runs with every adapter disabled.
Engines that can change their adapters while running have `load_adapter(name, folder)` and
`unload_adapter(name)`; both run on the generation thread, between batches
(`AsyncEngine.run_exclusive`).

What a client may do is narrow, since the routes touch the server's filesystem: loading and
unloading are off unless the operator names `--adapter_dirs`; a path must resolve (symlinks
followed) inside one of them, and a path outside gets one answer whether it exists or not;
the adapters given at start-up and the internal names (peft's `default`, the served model's
name) can be neither replaced nor removed.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunekite.constants import DEFAULT_ADAPTER
from tunekite.engines.batching import AsyncEngine
from tunekite.serving.schemas import APIError
from tunekite.tuners import ADAPTER_CONFIG

log = logging.getLogger("uvicorn.error")
ADAPTER_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""Names a client may give an adapter (peft keeps adapters in a `ModuleDict`: no dots)."""


class AdapterManager:
    """The named adapters of an engine. `named` maps the names loaded at start-up to their
    folders (fixed for the server's life); `reserved` are names no adapter may take (the
    served model's); `allowed_dirs` are the folders run-time loading may read (none: off)."""

    def __init__(
        self,
        front: AsyncEngine,
        named: dict[str, str],
        reserved: set[str],
        allowed_dirs: Sequence[str | Path] = (),
    ) -> None:
        self.front = front
        self.folders = dict(named)
        self.pinned = frozenset(named)
        self.served = frozenset(reserved)
        self.reserved = self.served | {DEFAULT_ADAPTER}
        """Names no client may give an adapter: the served model's and peft's internal one."""
        self.allowed_dirs = [Path(d).resolve() for d in allowed_dirs]

    def adapter_of(self, model_name: str) -> str | None:
        """The adapter a request for `model_name` runs with (None for the served model)."""
        if model_name in self.folders:
            return model_name
        if model_name in self.served:
            return None
        known = ", ".join(sorted([*self.served, *self.folders]))
        raise APIError(
            400,
            f"The model {model_name!r} does not exist; served: {known}.",
            code="model_not_found",
            param="model",
        )

    async def load(self, name: str, path: str) -> None:
        """Load the adapter saved at `path` (inside `allowed_dirs`) under `name`."""
        self._check_enabled()
        if not ADAPTER_NAME.fullmatch(name):
            raise APIError(400, "An adapter name is 1 to 64 letters, digits, '_' or '-'.", param="name")
        if name in self.folders or name in self.reserved:
            raise APIError(400, f"The name {name!r} is taken; choose another.", param="name")
        folder = self._inside(path)
        if not folder.is_dir():
            raise APIError(400, "There is no folder at that path inside --adapter_dirs.", param="path")
        if not (folder / ADAPTER_CONFIG).is_file():
            raise APIError(
                400, f"That folder has no {ADAPTER_CONFIG}: it is not a PEFT adapter.", param="path"
            )
        engine = self._engine()
        try:
            await self.front.run_exclusive(lambda: engine.load_adapter(name, str(folder)))
        except Exception as exc:  # the reason goes to the log, not to the client
            log.warning("loading adapter %r from %s failed: %s", name, folder, exc)
            raise APIError(
                400, f"The adapter {name!r} could not be loaded into this model.", param="path"
            ) from None
        self.folders[name] = str(folder)

    async def unload(self, name: str) -> None:
        """Remove adapter `name`, loaded at run time; 403 for one given at start-up."""
        self._check_enabled()
        if name in self.pinned:
            raise APIError(
                403, f"The adapter {name!r} was given at start-up (--adapters) and stays.", param="name"
            )
        if name not in self.folders:
            raise APIError(
                404,
                f"No adapter named {name!r} was loaded at run time.",
                code="model_not_found",
                param="name",
            )
        engine = self._engine()
        await self.front.run_exclusive(lambda: engine.unload_adapter(name))
        del self.folders[name]

    def _check_enabled(self) -> None:
        if not self.allowed_dirs:
            raise APIError(
                403,
                "Adapters cannot be loaded or unloaded at run time: "
                "the server was started without --adapter_dirs.",
                code="adapter_loading_disabled",
            )

    def _inside(self, path: str) -> Path:
        """`path` resolved (symlinks followed; a relative one against each allowed folder in
        turn); 403, the same for every path outside, whether it exists or not."""
        given = Path(path)
        candidates = [given] if given.is_absolute() else [d / given for d in self.allowed_dirs]
        inside = []
        for candidate in candidates:
            try:
                resolved = candidate.resolve()
            except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte
                continue
            if any(resolved.is_relative_to(d) for d in self.allowed_dirs):
                inside.append(resolved)
        if not inside:
            raise APIError(403, "The path is not inside the folders of --adapter_dirs.", param="path")
        return next((f for f in inside if f.is_dir()), inside[0])

    def _engine(self) -> Any:
        engine = self.front.engine
        if not hasattr(engine, "load_adapter"):
            raise APIError(400, f"The {type(engine).__name__} engine cannot load adapters while serving.")
        return engine
