"""Register and unregister fake plugins in an isolated plugin host."""

from __future__ import annotations

from typing import Any

from tunekite.plugin_host import PluginHost, PluginInfo, set_host


class FakePlugins:
    """An isolated host (built-ins only, nothing installed, no env switches) made the
    process-wide one until `close()`; `add()` registers plugin objects into it."""

    def __init__(self, *, autoload: bool = False) -> None:
        self.host = PluginHost(env={}, autoload=autoload)
        self._previous = set_host(self.host)
        self._count = 0

    def add(self, plugin: Any, *, name: str | None = None, distribution: str | None = None) -> PluginHost:
        """Register `plugin` (a module, class or object with `tk_*` hook functions)."""
        self._count += 1
        label = name or getattr(plugin, "__name__", f"fake{self._count}")
        info = PluginInfo(label, "test", distribution or f"fake-{label}", "0", f"test:{self._count}")
        self.host.add_plugin(plugin, info)
        return self.host

    def close(self) -> None:
        set_host(self._previous)
