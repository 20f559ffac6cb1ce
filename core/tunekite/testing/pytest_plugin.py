"""Pytest fixtures for plugin authors (loaded through the `pytest11` entry point)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

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


@pytest.fixture(scope="session")
def tk_browser() -> Iterator[Any]:
    """A headless Debian Chromium driven by selenium (`tunekite.testing.browser`). Without
    Chromium the browser tests skip, except under CI, where they fail."""
    from tunekite.testing.browser import headless_chromium, missing_chromium

    reason = missing_chromium()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    with headless_chromium() as driver:
        yield driver
