"""Headless Debian Chromium for the browser tests of web pages (`tk run app`, `tk run
web-ui`): selenium drives `/usr/bin/chromium` through `/usr/bin/chromedriver`, which
`make chromium` installs (CI runs it). Nothing here is imported until a test asks."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
)


def missing_chromium() -> str | None:
    """Why the browser tests cannot run here, or None. Chromium is installed by `make chromium`
    (CI runs it), never from inside a test session."""
    missing = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not path.exists()]
    if not missing:
        return None
    return f"{' and '.join(missing)} missing: make chromium (apt-get install chromium chromium-driver)"


@contextlib.contextmanager
def headless_chromium() -> Iterator[Any]:
    """A selenium driver of a headless Chromium with a fresh profile, quit afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="tk-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for_http(url: str, timeout: float) -> None:
    """Return once `url` answers 200; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout:.0f} s")
