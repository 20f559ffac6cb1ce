"""Pytest fixtures for plugin authors (loaded through the `pytest11` entry point)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tunekite.plugin_host import PluginHost, get_host
from tunekite.testing.fakes import FakePlugins


@pytest.fixture
def tk_plugins() -> Iterator[FakePlugins]:
    """An isolated host with only core's built-ins; `tk_plugins.add(obj)` registers fakes."""
    fakes = FakePlugins()
    try:
        yield fakes
    finally:
        fakes.close()


@pytest.fixture
def tk_host() -> PluginHost:
    """The real host: built-ins plus every installed plugin."""
    return get_host()
