"""`tk run app` in headless Chromium: type a message, send it, read the reply in the page.

Each test runs the app through `tunekite.api.start` (the path `tk run app` takes) on
127.0.0.1, its page served by uvicorn in this process on a port the system picks. The
first serves a tiny model through the pt engine, which also computes the expected greedy
reply; the second serves over a fake OpenAI-compatible server (`--base_url`) and must load
no model at all.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

import tunekite_app.page as page_module
from tunekite.api import ChatRequest, start
from tunekite.testing import save_tiny_chat_model, serving, wait_for_http


def _flat(text: str) -> str:
    return " ".join(text.split())


def _bot_replies(driver: Any) -> list[str]:
    """The reply bubbles' texts, read in one script call: the chatbot re-renders while a reply
    streams, so element handles held between calls could go stale."""
    texts = driver.execute_script(
        "return Array.from(document.querySelectorAll('#tk-chatbot [data-testid=\"bot\"]'))"
        ".map(e => e.innerText)"
    )
    return [_flat(t) for t in texts]


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(
        expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "#tk-input textarea"))
    )


def _send(driver: Any, message: str) -> None:
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, "#tk-input textarea").send_keys(message)
    driver.find_element(By.CSS_SELECTOR, "#tk-send").click()


def _wait_for_replies(driver: Any, expected: list[str], timeout: float = 60) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    want = [_flat(e) for e in expected]
    try:
        WebDriverWait(driver, timeout).until(lambda d: _bot_replies(d) == want)
    except Exception as exc:
        raise AssertionError(f"the page shows {_bot_replies(driver)!r}, expected {want!r}") from exc


@pytest.fixture
def serve_app(monkeypatch: Any, tmp_path: Path) -> Any:
    """`serve_app(*argv)`: `tk run app ARGV --server_name 127.0.0.1` through
    `tunekite.api.start`, its page served in the background on a port the system picks (gradio's
    own `launch` cannot take port 0, so the page is mounted in a FastAPI app under uvicorn);
    returns the page's url and backend."""
    import uvicorn
    from fastapi import FastAPI
    from gradio import mount_gradio_app

    real_backend = page_module.make_backend
    served: dict[str, Any] = {}
    servers = contextlib.ExitStack()

    def capture_backend(run: Any) -> Any:
        served["backend"] = real_backend(run)
        return served["backend"]

    def launch_on_any_port(page: Any, run: Any, *, block: bool = True) -> Any:
        app = mount_gradio_app(FastAPI(), page, path="")
        config = uvicorn.Config(app, host=run.server_name, port=0, log_level="warning")
        served["url"] = servers.enter_context(serving(uvicorn.Server(config))) + "/"

    monkeypatch.setattr(page_module, "make_backend", capture_backend)
    monkeypatch.setattr(page_module, "launch", launch_on_any_port)
    monkeypatch.chdir(tmp_path)

    def serve(*argv: str) -> tuple[str, Any]:
        start("app", [*argv, "--server_name", "127.0.0.1"])
        wait_for_http(served["url"], timeout=60)
        return served["url"], served["backend"]

    with servers:
        yield serve


def test_page_streams_the_local_engines_greedy_reply(
    tk_browser: Any, serve_app: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    folder = save_tiny_chat_model(tmp_path / "model")
    url, backend = serve_app(
        "--model", str(folder), "--template", "chatml", "--temperature", "0", "--max_new_tokens", "12"
    )
    message = "hello there"
    request = ChatRequest(messages=[{"role": "user", "content": message}], temperature=0, max_tokens=12)
    expected = backend.engine.infer([request])[0].text
    assert _flat(expected), "the tiny model's greedy reply is blank; pick another message"

    _open(tk_browser, url)
    assert tk_browser.find_element(By.CSS_SELECTOR, "#tk-send").text == "发送"  # --lang zh, the default
    assert tk_browser.title == "model"  # no --studio_title: the model folder's name
    _send(tk_browser, message)
    _wait_for_replies(tk_browser, [expected])
    assert tk_browser.find_element(By.CSS_SELECTOR, "#tk-input textarea").get_attribute("value") == ""

    tk_browser.find_element(By.CSS_SELECTOR, "#tk-clear").click()
    _wait_for_replies(tk_browser, [])


def test_page_over_a_running_server_keeps_the_history(
    tk_browser: Any, serve_app: Any, fake_openai: Any, monkeypatch: Any
) -> None:
    from selenium.webdriver.common.by import By

    def no_engine(run: Any) -> Any:
        raise AssertionError("a --base_url run must not load a model")

    monkeypatch.setattr(page_module, "build_engine", no_engine)
    url, _ = serve_app("--base_url", fake_openai.url, "--api_key", fake_openai.key, "--lang", "en",
                       "--studio_title", "Kite chat", "--temperature", "0", "--max_new_tokens", "32")
    _open(tk_browser, url)
    assert tk_browser.find_element(By.CSS_SELECTOR, "#tk-send").text == "Send"
    assert tk_browser.title == "Kite chat"
    first, second = "hello kite", "and again"
    _send(tk_browser, first)
    reply = fake_openai.reply([{"role": "user", "content": first}])
    _wait_for_replies(tk_browser, [reply])
    _send(tk_browser, second)
    _wait_for_replies(tk_browser, [reply, "Echo 2: and again"])

    assert [r["model"] for r in fake_openai.requests] == [fake_openai.model] * 2
    last = fake_openai.requests[-1]
    assert last["stream"] is True and last["temperature"] == 0 and last["max_tokens"] == 32
    assert last["messages"] == [
        {"role": "user", "content": first},
        {"role": "assistant", "content": reply},
        {"role": "user", "content": second},
    ]
