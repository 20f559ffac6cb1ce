"""The app without a browser: arguments, the send handler, the OpenAI backend, the page."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tunekite.api import ArgumentError, ChatRequest, start
from tunekite_app.chat import (
    OpenAIBackend,
    Settings,
    build_messages,
    build_request,
    conversation,
    respond,
)
from tunekite_app.locale import STRINGS, strings
from tunekite_app.page import launch as real_launch
from tunekite_app.plugin import AppArguments


@pytest.fixture
def started(monkeypatch: Any, tmp_path: Path) -> Any:
    """`start("app", argv)` that builds the backend and page but does not serve them; loading
    a model here is an error (these runs all use --base_url)."""
    import tunekite_app.page as page_module

    def no_engine(run: Any) -> Any:
        raise AssertionError("a --base_url run must not load a model")

    def launch(page: Any, run: Any, *, block: bool = True) -> Any:
        served.update(page=page, run=run)

    real_build_page = page_module.build_page

    def build_page(backend: Any, run: Any) -> Any:
        served["backend"] = backend
        return real_build_page(backend, run)

    served: dict[str, Any] = {}
    monkeypatch.setattr(page_module, "build_engine", no_engine)
    monkeypatch.setattr(page_module, "launch", launch)
    monkeypatch.setattr(page_module, "build_page", build_page)
    monkeypatch.chdir(tmp_path)

    def run(*argv: str) -> dict[str, Any]:
        served.clear()
        start("app", list(argv))
        return dict(served)

    return run


def test_defaults_follow_the_swift_web_ui_arguments_but_stay_on_this_machine() -> None:
    args = AppArguments()
    assert (args.server_name, args.server_port, args.share, args.lang, args.studio_title) == (
        "127.0.0.1", 7860, False, "zh", None
    )
    assert (args.base_url, args.api_key, args.infer_backend, args.max_batch_size) == (None, None, "pt", 1)


def test_command_line_maps_onto_the_run_and_a_base_url_loads_no_model(started: Any, fake_openai: Any) -> None:
    served = started(
        "--base_url", fake_openai.url, "--api_key", fake_openai.key, "--server_name", "127.0.0.1",
        "--server-port", "7999", "--lang", "en", "--studio_title", "Kite", "--temperature", "0.3",
        "--max_new_tokens", "77", "--top_k", "5", "--stop_words", "END",
    )
    run, backend = served["run"], served["backend"]
    assert (run.server_name, run.server_port, run.share, run.lang, run.studio_title) == (
        "127.0.0.1", 7999, False, "en", "Kite"
    )
    assert isinstance(backend, OpenAIBackend) and backend.name == fake_openai.model
    assert served["page"].title == "Kite"
    from tunekite_app.page import page_settings

    assert page_settings(run) == Settings(temperature=0.3, max_tokens=77, top_k=5, stop=("END",))


def test_the_title_defaults_to_the_model_and_unknown_languages_are_refused(
    started: Any, fake_openai: Any
) -> None:
    served = started("--base_url", fake_openai.url, "--api_key", fake_openai.key)
    assert served["page"].title == fake_openai.model
    assert served["run"].lang == "zh"
    with pytest.raises(ArgumentError):
        started("--base_url", fake_openai.url, "--lang", "fr")


def test_page_settings_start_the_sliders_without_generation_arguments(started: Any, fake_openai: Any) -> None:
    from tunekite_app.page import DEFAULT_MAX_TOKENS, DEFAULT_TEMPERATURE, ELEM_IDS, page_settings

    served = started("--base_url", fake_openai.url, "--api_key", fake_openai.key, "--lang", "en")
    defaults = Settings(temperature=DEFAULT_TEMPERATURE, max_tokens=DEFAULT_MAX_TOKENS)
    assert page_settings(served["run"]) == defaults
    config = served["page"].get_config_file()
    props = [c["props"] for c in config["components"]]
    ids = {p.get("elem_id") for p in props}
    assert set(ELEM_IDS.values()) <= ids
    labels = {str(p.get(key)) for p in props for key in ("value", "label")}
    assert {"Send", "Clear history", "System prompt"} <= labels


def test_both_languages_have_every_string() -> None:
    assert set(STRINGS) == {"zh", "en"}
    assert STRINGS["zh"].keys() == STRINGS["en"].keys()
    assert strings("zh")["send"] == "发送"
    with pytest.raises(ValueError, match="zh, en"):
        strings("fr")


def test_history_in_every_gradio_shape_becomes_plain_messages() -> None:
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "hel"}, {"type": "text", "text": "lo"}]},
    ]
    pairs = [["hi", "hello"]]
    plain = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert conversation(parts) == conversation(pairs) == conversation(plain) == plain
    assert conversation(None) == []
    assert conversation([["pending", None]]) == [{"role": "user", "content": "pending"}]


def test_a_send_becomes_one_request_with_the_system_prompt_first() -> None:
    history = [{"role": "system", "content": "old"}, {"role": "user", "content": "a"},
               {"role": "assistant", "content": "b"}]
    settings = Settings(top_p=0.9, repetition_penalty=1.1, stop=("X",)).with_page(0, 16.0)
    request = build_request("c", history, "Be brief.", settings)
    assert request.messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
    ]
    got = (request.temperature, request.max_tokens, request.top_p, request.repetition_penalty, request.stop)
    assert got == (0.0, 16, 0.9, 1.1, ("X",))
    assert isinstance(request.max_tokens, int)
    assert build_messages("c", [], "   ") == [{"role": "user", "content": "c"}]


@dataclass
class FakeBackend:
    name: str = "fake"
    deltas: tuple[str, ...] = ("Hel", "lo", "!")
    seen: list[ChatRequest] = field(default_factory=list)

    def stream(self, request: ChatRequest) -> Any:
        self.seen.append(request)
        yield from self.deltas


def test_respond_streams_the_reply_into_the_conversation() -> None:
    backend = FakeBackend()
    history = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]
    steps = list(respond(backend, "c", history, "", Settings(temperature=0)))
    assert [s[-1]["content"] for s in steps] == ["", "Hel", "Hello", "Hello!"]
    reply = {"role": "assistant", "content": "Hello!"}
    assert steps[-1] == [*history, {"role": "user", "content": "c"}, reply]
    (request,) = backend.seen
    assert request.messages == [*history, {"role": "user", "content": "c"}] and request.temperature == 0
    assert list(respond(backend, "  ", history, "", Settings())) == [history]
    assert len(backend.seen) == 1


def test_openai_backend_streams_from_the_server(fake_openai: Any) -> None:
    backend = OpenAIBackend(fake_openai.url, fake_openai.key)
    assert backend.name == fake_openai.model
    request = ChatRequest(messages=[{"role": "user", "content": "one two"}], temperature=0, max_tokens=9,
                          top_k=3, stop=("Z",))
    assert "".join(backend.stream(request)) == "Echo 1: one two"
    body = fake_openai.requests[-1]
    assert body["stream"] is True and body["top_k"] == 3 and body["stop"] == ["Z"]
    assert (body["temperature"], body["max_tokens"], body["model"]) == (0, 9, fake_openai.model)
    assert "top_p" not in body and "repetition_penalty" not in body


def test_openai_backend_with_a_wrong_key_fails_clearly(fake_openai: Any) -> None:
    import openai

    with pytest.raises(openai.AuthenticationError):
        OpenAIBackend(fake_openai.url, "wrong")
    backend = OpenAIBackend(fake_openai.url, "wrong", model="named")
    assert backend.name == "named"
    with pytest.raises(openai.AuthenticationError):
        list(backend.stream(ChatRequest(messages=[{"role": "user", "content": "x"}])))


@pytest.mark.parametrize(
    ("server_name", "warned"), [("127.0.0.1", False), ("localhost", False), ("0.0.0.0", True)]
)
def test_launch_warns_when_the_page_listens_beyond_this_machine(
    started: Any, fake_openai: Any, capsys: Any, server_name: str, warned: bool
) -> None:
    """The real `launch`, over a page whose gradio `launch` only records what it was given."""
    argv = ("--base_url", fake_openai.url, "--api_key", fake_openai.key, "--server_name", server_name)
    run = started(*argv)["run"]
    capsys.readouterr()
    given: dict[str, Any] = {}

    class Page:
        def launch(self, **options: Any) -> None:
            given.update(options)

    real_launch(Page(), run, block=False)
    err = capsys.readouterr().err
    assert ("WARNING: tk run app listens on 0.0.0.0:7860" in err) is warned
    assert (given["server_name"], given["server_port"]) == (server_name, 7860)
    assert given["prevent_thread_lock"] is True
