"""`tk run web-ui` in headless Chromium: fill the train form, start two runs at once, watch
the curve of one grow until it finishes while the other is stopped mid-way with a complete
checkpoint, chat with the finished checkpoint; and a tuner from a local plugin file gets
its own field in the form.

The page runs through `tunekite.api.start` (the path `tk run web-ui` takes) on 127.0.0.1,
served by uvicorn in this process on a port the system picks; the runs it starts are real
`tk run sft` subprocesses on a tiny model.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import tunekite_webui.page as page_module
from tunekite_webui.chat import stream_reply

from tunekite.api import start
from tunekite.testing import FakePlugins, save_tiny_chat_model, serving, wait_for_http

FAKE_TUNER = """
from dataclasses import dataclass
from tunekite.api import TunerSpec, arg, hookimpl


@dataclass(kw_only=True)
class FakeArguments:
    fake_strength: float = arg(0.25, help="how strongly the fake tuner tunes")


@hookimpl
def tk_register_tuners(register):
    register(TunerSpec(name="fake", summary="a tuner of a local plugin file", args=FakeArguments,
                       factory=lambda model, args, run: model))
"""


@pytest.fixture
def serve_webui(monkeypatch: Any, tmp_path: Path) -> Any:
    """`serve_webui(*argv)`: `tk run web-ui ARGV` served in the background, with a plugin
    host of its own (a local plugin file stays in it); returns its url. Runs the page
    started are stopped (SIGINT) and waited for afterwards."""
    import contextlib

    import uvicorn
    from fastapi import FastAPI
    from gradio import mount_gradio_app

    served: dict[str, Any] = {}
    servers = contextlib.ExitStack()
    real_build = page_module.WebUI.build

    def build(ui: Any) -> Any:
        served["ui"] = ui
        return real_build(ui)

    def launch_on_any_port(page: Any, run: Any, *, block: bool = True) -> Any:
        app = mount_gradio_app(FastAPI(), page, path="")
        config = uvicorn.Config(app, host=run.server_name, port=0, log_level="warning")
        served["url"] = servers.enter_context(serving(uvicorn.Server(config))) + "/"

    monkeypatch.setattr(page_module.WebUI, "build", build)
    monkeypatch.setattr(page_module, "launch", launch_on_any_port)
    monkeypatch.chdir(tmp_path)
    # `tk run` exports its local plugin files for the processes it starts: undone afterwards
    monkeypatch.setenv("TUNEKITE_CUSTOM_REGISTER_PATH", "")
    monkeypatch.delenv("TUNEKITE_CUSTOM_REGISTER_PATH")

    def engines(checkpoint: Path) -> tuple[Any, Any]:
        return served["ui"].engines[(str(checkpoint), "pt")]

    def serve(*argv: str) -> str:
        start("web-ui", [*argv, "--server_name", "127.0.0.1", "--lang", "en"])
        wait_for_http(served["url"], timeout=60)
        return served["url"]

    serve.engines = engines  # type: ignore[attr-defined]

    plugins = FakePlugins(autoload=True)
    servers.callback(plugins.close)
    with servers:
        yield serve
        if "ui" in served:
            served["ui"].runs.stop_all()
            for run in served["ui"].runs.all():
                run.process.wait(timeout=60)


def _open(driver: Any, url: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get(url)
    WebDriverWait(driver, 60).until(expected_conditions.element_to_be_clickable((By.ID, "tk-start")))


def _fill(driver: Any, elem: str, value: str, enter: bool = False) -> None:
    """Type `value` into the input of the component `elem` (replacing what it holds)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element(By.CSS_SELECTOR, f"#{elem} input, #{elem} textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(value)
    box.send_keys(Keys.ENTER if enter else Keys.TAB)
    time.sleep(0.3)


def _value(driver: Any, elem: str) -> str:
    return driver.execute_script(
        f"const e = document.querySelector('#{elem} input, #{elem} textarea'); return e ? e.value : null;"
    )


def _text(driver: Any, elem: str) -> str:
    return driver.execute_script(f"const e = document.getElementById('{elem}'); return e ? e.innerText : '';")


def _click(driver: Any, elem: str) -> None:
    driver.execute_script(f"document.getElementById('{elem}').click();")


def _until(driver: Any, condition: Any, timeout: float, what: str, seen: Any = None) -> Any:
    """Wait for `condition`; on timeout the error names `what` and, given `seen`, what it read."""
    from selenium.webdriver.support.ui import WebDriverWait

    print(time.strftime("%H:%M:%S"), what, flush=True)

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.25).until(lambda d: condition())
    except Exception as exc:
        found = f" (found {seen()!r})" if seen else ""
        raise AssertionError(f"{what} within {timeout:.0f} s{found}") from exc


def _points(driver: Any) -> int:
    found = driver.execute_script(
        "const e = document.querySelector('#tk-curves svg[data-metric=\"loss\"]');"
        "return e ? Number(e.dataset.points) : -1;"
    )
    return int(found)


def _bot_replies(driver: Any) -> list[str]:
    """The reply bubbles of the tuned, then the base chatbot, read in one script call."""
    texts = driver.execute_script(
        "return ['#tk-chat-tuned', '#tk-chat-base'].flatMap(c => "
        "Array.from(document.querySelectorAll(c + ' [data-testid=\"bot\"]')).map(e => e.innerText))"
    )
    return [" ".join(t.split()) for t in texts]


def _fill_train_form(driver: Any, model: Path, data: Path, out: Path, steps: int) -> None:
    _fill(driver, "tk-model-model", str(model), enter=True)
    _fill(driver, "tk-data-dataset", str(data), enter=True)
    _fill(driver, "tk-common-output_dir", str(out))
    _fill(driver, "tk-training-max_steps", str(steps))
    _fill(driver, "tk-training-save_steps", str(steps))
    _fill(driver, "tk-training-logging_steps", "1")
    _fill(driver, "tk-data-split_dataset_ratio", "0")
    _fill(driver, "tk-training-report_to", "none")


def test_train_two_runs_watch_stop_and_chat(tk_browser: Any, serve_webui: Any, tmp_path: Path) -> None:
    driver = tk_browser
    model = save_tiny_chat_model(tmp_path / "tiny")
    rows = [
        {
            "messages": [
                {"role": "user", "content": f"{i} plus {i}?"},
                {"role": "assistant", "content": f"{2 * i}."},
            ]
        }
        for i in range(24)
    ]
    data = tmp_path / "sums.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "output" / "runs"
    _open(driver, serve_webui("--output_dir", str(tmp_path / "output")))

    # A bad value gets the CLI's own message and starts nothing.
    _fill(driver, "tk-training-max_steps", "0")
    _click(driver, "tk-check")
    _until(
        driver,
        lambda: "--max_steps must be positive" in _text(driver, "tk-train-message"),
        30,
        "the CLI's message",
    )

    _fill_train_form(driver, model, data, out, steps=8)
    _click(driver, "tk-check")
    _until(driver, lambda: "OK" in _text(driver, "tk-train-message"), 30, "the form checks out")
    command = _value(driver, "tk-command")
    assert command.startswith("tk run sft ") and f"--model {model}" in command and "--max_steps 8" in command

    _click(driver, "tk-start")  # run #1: eight steps
    _until(driver, lambda: "#1" in _text(driver, "tk-run-status"), 30, "run #1 is shown")
    _click(driver, "tk-tab-train-button")
    _fill(driver, "tk-training-max_steps", "100000")
    _fill(driver, "tk-training-save_steps", "100000")
    _click(driver, "tk-start")  # run #2, at the same time, stopped below
    _until(driver, lambda: "#2" in _text(driver, "tk-run-status"), 30, "run #2 is shown")

    _until(
        driver,
        lambda: "step " in _text(driver, "tk-run-status") and _points(driver) >= 2,
        120,
        "run #2 logs its steps",
    )
    drawn = _points(driver)
    _until(driver, lambda: _points(driver) > drawn, 60, "run #2's loss curve grows on the page")
    assert "ETA" in _text(driver, "tk-run-status")
    _click(driver, "tk-stop")
    _until(driver, lambda: "#2 stopped" in _text(driver, "tk-run-status"), 90, "run #2 stops cleanly")
    two = [p for p in out.glob("v*") if json.loads((p / "args.json").read_text())["max_steps"] == 100000]
    (checkpoint,) = list(two[0].glob("checkpoint-*"))
    step = int(checkpoint.name.split("-")[1])
    assert 2 <= step < 100000
    assert json.loads((checkpoint / "trainer_state.json").read_text())["global_step"] == step
    assert (checkpoint / "adapter_model.safetensors").is_file() and not (two[0] / ".staging").exists()
    _until(
        driver,
        lambda: str(checkpoint) in (_value(driver, "tk-resume-checkpoint") or ""),
        10,
        "the stopped run's checkpoint is offered for resuming",
    )
    _click(driver, "tk-resume")  # run #3 continues run #2 in its folder; stopped at once
    _until(driver, lambda: "#3" in _text(driver, "tk-run-status"), 30, "the resumed run #3 is shown")
    assert f"--output_dir {two[0]} --add_version false --resume_from_checkpoint {checkpoint}" in _text(
        driver, "tk-run-status"
    )
    _click(driver, "tk-stop")

    _fill(driver, "tk-run", "#1", enter=True)
    _until(
        driver,
        lambda: "#1 finished" in _text(driver, "tk-run-status"),
        120,
        "run #1 finishes",
    )
    _until(driver, lambda: _points(driver) == 8, 10, "run #1's curve has its eight steps")
    one = next(p for p in out.glob("v*") if p != two[0])
    assert '"max_steps": 8' in _text(driver, "tk-run-args")

    _click(driver, "tk-tab-chat-button")
    _click(driver, "tk-chat-refresh")
    finished = one / "checkpoint-8"

    def offered() -> Path | None:
        value = _value(driver, "tk-chat-checkpoint")
        return Path(value) if value else None

    def committed() -> bool:
        """The tab offers the last checkpoint of the run folder changed last: run #1's, or
        that of #2 and #3, whichever ended later (on a loaded machine #3 may end after #1)."""
        chosen = offered()
        return (
            chosen is not None
            and chosen.parent in (one, two[0])
            and (chosen / "adapter_model.safetensors").is_file()
        )

    _until(driver, committed, 30, "a committed checkpoint of these runs in the chat tab", seen=offered)
    _fill(driver, "tk-chat-checkpoint", str(finished), enter=True)
    _click(driver, "tk-chat-load")
    _until(driver, lambda: "Loaded" in _text(driver, "tk-chat-loaded"), 60, "the checkpoint loads")
    served_engines = serve_webui.engines  # what the page loaded: the expected greedy replies
    _fill(driver, "tk-chat-max-tokens", "8")
    _fill(driver, "tk-chat-input", "3 plus 3?", enter=True)
    tuned, base = served_engines(finished)
    messages = [{"role": "user", "content": "3 plus 3?"}]
    expected = ["".join(stream_reply(engine, messages, 0.0, 8)) for engine in (tuned, base)]
    assert all(" ".join(e.split()) for e in expected), (
        f"a blank greedy reply; pick another message: {expected}"
    )
    _until(
        driver,
        lambda: _bot_replies(driver) == [" ".join(e.split()) for e in expected],
        60,
        "the tuned and the base model's greedy replies, side by side",
    )


def test_a_tuner_from_a_local_plugin_file_gets_its_field(
    tk_browser: Any, serve_webui: Any, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    plugin = tmp_path / "fake_tuner.py"
    plugin.write_text(FAKE_TUNER, encoding="utf-8")
    driver = tk_browser
    _open(driver, serve_webui("--custom_register_path", str(plugin)))
    shown = "tk-tuners-fake-fake_strength"
    assert not [e for e in driver.find_elements(By.ID, shown) if e.is_displayed()]  # lora is the default
    _fill(driver, "tk-tuner-tuner", "fake", enter=True)
    driver.save_screenshot("/tmp/webui-before.png")
    _until(
        driver,
        lambda: [e for e in driver.find_elements(By.ID, shown) if e.is_displayed()],
        20,
        "the fake tuner's field appears",
    )
    driver.save_screenshot("/tmp/webui-fake.png")
    assert "how strongly the fake tuner tunes" in _text(driver, shown)
    _fill(driver, "tk-tuners-fake-fake_strength", "0.5")
    _click(driver, "tk-check")
    _until(driver, lambda: "--fake_strength 0.5" in (_value(driver, "tk-command") or ""), 30, "the command")
    command = _value(driver, "tk-command")
    assert "--tuner fake" in command and f"--custom_register_path {plugin}" in command
