"""`tk run deploy` as a hostile client and a careless operator meet it, over a real socket
with the `openai` client, raw `httpx` and `http.client`: loopback by default and a warning
beyond it, adapter routes that are no filesystem oracle, a served model no client can swap,
prompts held to the context, generation that stops for a client that left and on SIGTERM,
validated fields, and clean 500s that keep the connection usable."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest

from tunekite.api import resolve
from tunekite.testing import save_tiny_chat_model, save_tiny_lora, serving

KEY = "sk-test"
MODEL = "tiny"
CONTEXT = 8192
LONG = 8000
"""max_tokens of a long request: a minute of generation for the endless tiny model here
(7 ms a token on a loaded machine, 2 ms on an idle one), so a client that leaves after a
second must find it stopped at a fraction of that."""
TK = str(Path(sys.executable).parent / "tk")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """An endless tiny model (its replies run to max_tokens) with an 8192-token context, its
    served adapter, a pinned named one, the folder adapters may be loaded from (holding an
    adapter and a symlink pointing out of it), and folders outside it."""
    root = tmp_path_factory.mktemp("hardening")
    model = save_tiny_chat_model(root / "model", endless=True, max_position_embeddings=CONTEXT)
    allowed = root / "allowed"
    allowed.mkdir()
    outside = root / "outside"
    (outside / "home").mkdir(parents=True)
    (allowed / "escape").symlink_to(outside / "home", target_is_directory=True)
    return {
        "root": root,
        "model": model,
        "served": save_tiny_lora(model, root / "served", 1),
        "pinned": save_tiny_lora(model, root / "pinned", 2),
        "loadable": save_tiny_lora(model, allowed / "extra", 3),
        "allowed": allowed,
        "outside": outside,
    }


def deploy_run(folders, *argv: str):
    run, _ = resolve(
        "deploy",
        [
            *("--model", str(folders["model"]), "--template", "chatml", "--port", "0"),
            *("--verbose", "false", "--log_interval", "0", "--served_model_name", MODEL),
            *argv,
        ],
    )
    return run


@pytest.fixture(scope="module")
def server(folders):
    """A server of the model with its adapter `served` (peft's `default`), a pinned named
    adapter, `--adapter_dirs` and a key; one torch thread (a tiny model gains nothing more)."""
    import torch

    from tunekite.tasks.deploy import build_server

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    run = deploy_run(
        folders,
        *("--adapters", str(folders["served"]), f"pinned={folders['pinned']}"),
        *("--adapter_dirs", str(folders["allowed"]), "--api_key", KEY, "--max_batch_size", "4"),
    )
    uvicorn_server = build_server(run)
    with serving(uvicorn_server) as url:
        yield {"url": url, "front": uvicorn_server.front, **folders}
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server['url']}/v1", api_key=KEY, max_retries=0)


def post(server, path: str, body, key: str | None = KEY, timeout: float = 60) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server['url']}{path}", content=content, headers=headers, timeout=timeout)


def error_of(response: httpx.Response, status: int) -> dict:
    """The OpenAI error body of `response`, which must have `status` and no trace of a
    Python exception or of a server path."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in response.text and "Error:" not in error["message"]
    return error


def chat_body(content: str = "hi", **fields) -> dict:
    return {"model": MODEL, "messages": [{"role": "user", "content": content}], "max_tokens": 4, **fields}


def wait_until(condition, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, message
        time.sleep(0.05)


# Binding ----------------------------------------------------------------------------------


def test_deploy_listens_on_loopback_by_default(folders, capsys):
    from tunekite.tasks.arguments import DeployArguments
    from tunekite.tasks.deploy import build_server

    assert DeployArguments().host == "127.0.0.1"
    build_server(deploy_run(folders))
    assert "WARNING" not in capsys.readouterr().err


def test_listening_beyond_loopback_without_a_key_warns(folders, capsys):
    from tunekite.tasks.deploy import build_server

    build_server(deploy_run(folders, "--host", "0.0.0.0"))
    err = capsys.readouterr().err
    assert "WARNING: tk run deploy listens on 0.0.0.0" in err and "--api_key" in err
    build_server(deploy_run(folders, "--host", "0.0.0.0", "--api_key", KEY))
    assert "WARNING" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("example.com", False),
    ],
)
def test_loopback_hosts(host, loopback):
    from tunekite.serving.exposure import is_loopback

    assert is_loopback(host) is loopback


def test_adapter_dirs_must_exist(folders):
    from tunekite.errors import ArgumentError
    from tunekite.tasks.deploy import build_server

    with pytest.raises(ArgumentError, match=r"--adapter_dirs .*no-such-folder: no such folder"):
        build_server(deploy_run(folders, "--adapter_dirs", str(folders["root"] / "no-such-folder")))


def test_docs_are_closed_behind_a_key(server):
    for path in ("/docs", "/openapi.json"):
        assert httpx.get(f"{server['url']}{path}").status_code == 404


# Adapter routes ---------------------------------------------------------------------------


def test_paths_outside_adapter_dirs_get_one_answer(server):
    """A missing folder, an existing one, a model folder and a symlink out of the allowed
    folder all get the same status and body: nothing tells them apart."""
    outside = server["outside"]
    paths = [
        str(outside / "no-such-folder"),
        str(outside / "home"),
        str(server["model"]),
        str(server["allowed"] / "escape"),
        "escape",
        "../outside/home",
        "../no-such-folder",
    ]
    answers = {
        (r.status_code, r.text)
        for r in (post(server, "/v1/adapters/load", {"name": "x", "path": p}) for p in paths)
    }
    assert len(answers) == 1, answers
    ((status, text),) = answers
    assert status == 403 and "--adapter_dirs" in text and str(outside) not in text


def test_adapter_routes_need_the_key(server):
    body = {"name": "x", "path": str(server["loadable"])}
    assert post(server, "/v1/adapters/load", body, key=None).status_code == 401
    assert post(server, "/v1/adapters/unload", {"name": "pinned"}, key="sk-wrong").status_code == 401


def test_run_time_loading_is_off_without_adapter_dirs(folders):
    from tunekite.tasks.deploy import build_server

    with serving(build_server(deploy_run(folders))) as url:
        answers = [
            httpx.post(f"{url}/v1/adapters/load", json={"name": "x", "path": str(p)}, timeout=30)
            for p in (folders["loadable"], folders["outside"] / "missing")
        ]
        unload = httpx.post(f"{url}/v1/adapters/unload", json={"name": "x"}, timeout=30)
    assert {(a.status_code, a.text) for a in answers} == {(answers[0].status_code, answers[0].text)}
    assert error_of(answers[0], 403)["code"] == "adapter_loading_disabled"
    assert error_of(unload, 403)["code"] == "adapter_loading_disabled"


def test_an_adapter_inside_adapter_dirs_loads_and_unloads(server, client):
    base = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "hi"}], max_tokens=6, temperature=0
    )
    loaded = post(server, "/v1/adapters/load", {"name": "extra", "path": "extra"})
    assert loaded.status_code == 200, loaded.text
    reply = client.chat.completions.create(
        model="extra", messages=[{"role": "user", "content": "hi"}], max_tokens=6, temperature=0
    )
    assert reply.choices[0].message.content != base.choices[0].message.content
    assert post(server, "/v1/adapters/unload", {"name": "extra"}).status_code == 200
    assert (
        error_of(post(server, "/v1/adapters/load", {"name": "bad.name", "path": "extra"}), 400)["param"]
        == "name"
    )


def test_no_client_can_swap_the_served_model(server, client):
    """The served model is the start-up adapter, peft's `default`: a client can neither load
    another adapter under that name nor unload it, nor touch the pinned named adapter."""

    def replies() -> tuple[str, str]:
        return tuple(
            client.chat.completions.create(
                model=m, messages=[{"role": "user", "content": "hi"}], max_tokens=8, temperature=0
            )
            .choices[0]
            .message.content
            for m in (MODEL, "pinned")
        )

    before = replies()
    for name in ("default", MODEL, "pinned"):
        error_of(post(server, "/v1/adapters/load", {"name": name, "path": "extra"}), 400)
    error_of(post(server, "/v1/adapters/unload", {"name": "default"}), 404)
    error_of(post(server, "/v1/adapters/unload", {"name": MODEL}), 404)
    assert error_of(post(server, "/v1/adapters/unload", {"name": "pinned"}), 403)["param"] == "name"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="default", messages=[{"role": "user", "content": "hi"}], max_tokens=2
        )
    assert replies() == before
    assert {m.id for m in client.models.list().data} == {MODEL, "pinned"}


# The context ------------------------------------------------------------------------------


def test_a_megabyte_prompt_is_refused_within_a_second_while_others_are_answered(server):
    huge = chat_body("hello world, who are you? " * 40_000)  # ~1 MB

    async def main():
        async with httpx.AsyncClient(
            base_url=server["url"], headers={"Authorization": f"Bearer {KEY}"}, timeout=60
        ) as http:

            async def timed(body):
                start = time.monotonic()
                response = await http.post("/v1/chat/completions", json=body)
                return response, time.monotonic() - start

            return await asyncio.gather(timed(huge), timed(chat_body("hi")), timed(chat_body("who are you?")))

    (refused, seconds), *others = asyncio.run(main())
    error = error_of(refused, 400)
    assert seconds < 1.0, f"the 400 took {seconds:.2f} s"
    assert error["code"] == "context_length_exceeded" and str(CONTEXT) in error["message"]
    assert re.search(r"\d{6,} characters", error["message"])
    for response, _ in others:
        assert response.status_code == 200, response.text
    assert post(server, "/v1/chat/completions", chat_body("and now?")).status_code == 200


def test_prompt_and_max_tokens_are_held_to_the_context(server):
    over = error_of(post(server, "/v1/chat/completions", chat_body("hello " * 2000)), 400)
    assert over["code"] == "context_length_exceeded"
    assert re.search(rf"The prompt is \d+ tokens; the model's context is {CONTEXT} tokens", over["message"])
    room = error_of(post(server, "/v1/chat/completions", chat_body("hi", max_tokens=CONTEXT)), 400)
    assert room["param"] == "max_tokens" and f"max_tokens is {CONTEXT}" in room["message"]
    completion = {"model": MODEL, "prompt": "hello " * 2000, "max_tokens": 2}
    assert error_of(post(server, "/v1/completions", completion), 400)["param"] == "prompt"


# Clients that leave ------------------------------------------------------------------------


def generated_since(front, requests_before: int, tokens_before: int, timeout: float) -> int:
    """Tokens the engine generated for requests finished since the counts given, once it is idle."""
    wait_until(
        lambda: front.stats.requests > requests_before and front.stats.running == 0,
        timeout,
        "the engine is still generating for a client that left",
    )
    return front.stats.completion_tokens - tokens_before


def test_a_client_that_leaves_a_whole_reply_stops_its_generation(server):
    front = server["front"]
    requests, tokens = front.stats.requests, front.stats.completion_tokens
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        post(server, "/v1/chat/completions", chat_body("tell me everything", max_tokens=LONG), timeout=1.0)
    generated = generated_since(front, requests, tokens, timeout=5)
    assert generated < LONG / 2, f"{generated} tokens generated for a client that left"
    assert time.monotonic() - started < 6
    assert post(server, "/v1/chat/completions", chat_body("hi")).status_code == 200


def test_a_client_that_leaves_a_stream_stops_its_generation(server):
    front = server["front"]
    requests, tokens = front.stats.requests, front.stats.completion_tokens
    headers = {"Authorization": f"Bearer {KEY}"}
    body = chat_body("tell me everything", max_tokens=LONG, stream=True)
    with httpx.stream(
        "POST", f"{server['url']}/v1/chat/completions", json=body, headers=headers, timeout=30
    ) as response:
        for line in response.iter_lines():
            if '"content": "' in line and '"role"' not in line:
                break  # leaves after the first piece of text
    generated = generated_since(front, requests, tokens, timeout=5)
    assert generated < LONG / 2, f"{generated} tokens generated for a client that left"


# Validation -------------------------------------------------------------------------------

TOOL = {"type": "function", "function": {"name": "add", "parameters": {"type": "object"}}}
CALL = {"id": "call-1", "type": "function", "function": {"name": "add", "arguments": '{"a": 1}'}}


@pytest.mark.parametrize(
    ("messages", "extra", "param"),
    [
        ([{"role": "robot", "content": "hi"}], {}, "messages.0.role"),
        ([{"role": "user", "content": "hi"}, {"role": "tool", "content": "3"}], {}, "messages.1"),
        (
            [{"role": "user", "content": "hi"}, {"role": "tool", "content": "3", "tool_call_id": "call-1"}],
            {},
            "messages.1.tool_call_id",
        ),
        ([{"role": "user", "content": "hi"}, {"role": "system", "content": "late"}], {}, "messages.1.role"),
        (
            [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}],
            {},
            "messages.0.content",
        ),
        ([{"role": "user", "content": "hi", "tool_calls": [CALL]}], {}, "messages.0"),
        ([{"role": "user", "content": "hi"}], {"seed": 10**30}, "seed"),
        (
            [{"role": "user", "content": "hi"}],
            {"tools": [{"type": "function", "function": {}}]},
            "tools.0.function.name",
        ),
        ([{"role": "user", "content": "hi"}], {"stop": 7}, "stop"),
        ([{"role": "user", "content": "hi"}], {"stop": ["END", ""]}, "stop"),
    ],
)
def test_bad_fields_are_400s_naming_the_field(server, messages, extra, param):
    error = error_of(
        post(server, "/v1/chat/completions", {"model": MODEL, "messages": messages, **extra}), 400
    )
    assert error["type"] == "invalid_request_error" and error["param"] == param


def test_huge_seed_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}], seed=10**30)
    assert caught.value.status_code == 400


def test_a_tool_round_trip_is_accepted(client):
    reply = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "developer", "content": "be brief"},
            {"role": "user", "content": "add 1"},
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "content": "2", "tool_call_id": "call-1"},
        ],
        tools=[TOOL],
        max_tokens=4,
        seed=2**63 - 1,
    )
    assert reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens == 4


# Unexpected errors --------------------------------------------------------------------------


class FailingEngine:
    """Answers "ok", but fails with an exception holding a server path for the prompt "fail"."""

    def infer(self, requests):
        from tunekite.engines.protocol import ChatResponse

        if any(r.messages[-1]["content"] == "fail" for r in requests):
            raise RuntimeError("cannot read /srv/secret/weights.bin")
        return [
            ChatResponse(text="ok", finish_reason="stop", prompt_tokens=1, completion_tokens=1)
            for _ in requests
        ]

    def stream(self, request):
        yield "ok"


def test_an_unexpected_error_is_a_clean_500_and_the_connection_stays_usable():
    from tunekite.engines.batching import AsyncEngine
    from tunekite.serving.app import ServeOptions, create_app
    from tunekite.serving.server import Server

    app = create_app(AsyncEngine(FailingEngine()), ServeOptions(served_model_name="fake"))
    server = Server(app, host="127.0.0.1", port=0, access_log=False)
    with serving(server) as url:
        connection = http.client.HTTPConnection(url.removeprefix("http://"), timeout=30)

        def ask(content: str) -> tuple[int, dict, str | None]:
            body = json.dumps({"messages": [{"role": "user", "content": content}]})
            connection.request("POST", "/v1/chat/completions", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            return response.status, json.loads(response.read()), response.getheader("connection")

        status, body, header = ask("fail")
        sock = connection.sock
        assert status == 500 and body["error"]["type"] == "server_error"
        assert "/srv/secret" not in json.dumps(body) and "RuntimeError" not in json.dumps(body)
        assert header != "close"
        status, body, _ = ask("hello")
        assert status == 200 and body["choices"][0]["message"]["content"] == "ok"
        assert connection.sock is sock  # the same keep-alive connection answered
        connection.close()


# SIGTERM ------------------------------------------------------------------------------------


def test_sigterm_during_a_long_request_exits_within_the_bound(folders, tmp_path):
    """`tk run deploy` in its own process: SIGTERM while a request is generating fails that
    request with a 503 at once, so the process exits before the shutdown grace runs out."""
    from tunekite.serving.server import SHUTDOWN_GRACE

    quietly = ("--port", "0", "--verbose", "false", "--log_interval", "0.2")

    process = subprocess.Popen(
        [TK, "run", "deploy", "--model", str(folders["model"]), "--template", "chatml", *quietly],
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    lines: list[str] = []
    port: list[int] = []

    def read() -> None:
        for line in process.stderr:
            lines.append(line)
            found = re.search(r"Uvicorn running on http://127\.0\.0\.1:(\d+)", line)
            if found:
                port.append(int(found.group(1)))

    threading.Thread(target=read, daemon=True).start()
    try:
        wait_until(lambda: port or process.poll() is not None, 120, "the server did not start")
        assert port, "".join(lines)
        url = f"http://127.0.0.1:{port[0]}/v1/chat/completions"
        answer: list[httpx.Response] = []
        body = {"messages": [{"role": "user", "content": "go on"}], "max_tokens": LONG}
        asker = threading.Thread(
            target=lambda: answer.append(httpx.post(url, json=body, timeout=60)), daemon=True
        )
        asker.start()
        wait_until(lambda: any(" 1 running" in line for line in lines), 30, "the request is not generating")
        process.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        process.wait(timeout=SHUTDOWN_GRACE + 10)
        assert time.monotonic() - sent < SHUTDOWN_GRACE  # in-flight requests failed at once
        asker.join(timeout=5)
        assert answer, "the request in flight got no answer"
        assert error_of(answer[0], 503)["code"] == "shutting_down"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
