"""`tk run deploy` on a tiny model with two LoRA adapters, driven over a real socket by the
official `openai` client: chat, streaming, completions, adapters by name and loaded at run
time, 401/400 errors, 32 concurrent streams, and a client that leaves mid-stream."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import httpx
import openai
import pytest

from tunekite.api import resolve
from tunekite.testing import save_tiny_chat_model, save_tiny_lora, serving

KEY = "sk-test"
MODEL = "tiny"
PROMPTS = ["hi", "who are you?", "12 * 7 = ?", "name a city"]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The base URL of a running server (one for the module), and the adapter folders. One
    torch thread: a tiny model gains nothing from more, and on a shared machine they spin."""
    import torch

    from tunekite.tasks.deploy import build_server

    threads = torch.get_num_threads()
    torch.set_num_threads(1)

    root = tmp_path_factory.mktemp("deploy")
    model_dir = save_tiny_chat_model(root / "tiny-chat")
    first, second = save_tiny_lora(model_dir, root / "lora1", 1), save_tiny_lora(model_dir, root / "lora2", 2)
    allowed = root / "adapters"
    shutil.copytree(first, allowed / "copy-of-lora1")
    run, _ = resolve(
        "deploy",
        [
            *("--model", str(model_dir), "--template", "chatml"),
            *("--adapters", f"lora1={first}", f"lora2={second}", "--adapter_dirs", str(allowed)),
            *("--port", "0", "--api_key", KEY),
            *("--served_model_name", MODEL, "--max_batch_size", "16", "--max_logprobs", "5"),
            *("--verbose", "false", "--log_interval", "0"),
        ],
    )
    with serving(build_server(run)) as url:
        yield {"url": url, "lora1": first, "lora2": second, "allowed": allowed, "model": model_dir}
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"{server['url']}/v1", api_key=KEY, max_retries=0)


def chat(client, content: str, model: str = MODEL, **options):
    settings = {"max_tokens": 8, "temperature": 0, **options}
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": content}], **settings
    )


def post(server, path: str, body, key: str | None = KEY) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{server['url']}{path}", content=content, headers=headers, timeout=30)


def assert_error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert {"message", "type", "code"} <= set(error) and error["message"]
    return error


def test_health_and_models(server, client):
    assert httpx.get(f"{server['url']}/health").json() == {"status": "ok"}
    models = {m.id: m for m in client.models.list().data}
    assert set(models) == {MODEL, "lora1", "lora2"}
    assert all(m.owned_by == "tunekite" for m in models.values())


def test_chat_completion(client):
    first = chat(client, "hi")
    choice = first.choices[0]
    assert isinstance(choice.message.content, str) and choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert first.usage.prompt_tokens > 0 and 0 < first.usage.completion_tokens <= 8
    assert first.model == MODEL
    assert chat(client, "hi").choices[0].message.content == choice.message.content


def test_chat_logprobs(client):
    reply = chat(client, "hi", max_tokens=4, logprobs=True, top_logprobs=3)
    content = reply.choices[0].logprobs.content
    assert len(content) == reply.usage.completion_tokens
    assert all(len(t.top_logprobs) == 3 and t.logprob <= 0 for t in content)


def test_streamed_chat_joins_to_the_full_reply(client):
    full = chat(client, "who are you?", max_tokens=12).choices[0].message.content
    chunks = list(
        chat(client, "who are you?", max_tokens=12, stream=True, stream_options={"include_usage": True})
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == full
    finished = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finished in (["stop"], ["length"])
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_n_choices_count_the_prompt_once(client):
    one, two = chat(client, "hi"), chat(client, "hi", n=2)
    assert [c.index for c in two.choices] == [0, 1]
    assert {c.message.content for c in two.choices} == {one.choices[0].message.content}
    assert two.usage.prompt_tokens == one.usage.prompt_tokens
    assert two.usage.completion_tokens == 2 * one.usage.completion_tokens


def test_adapter_entries_name_or_not():
    from tunekite.tasks.loading import parse_adapters

    assert parse_adapters(["a=/x/ckpt", "/y/checkpoint-3"]) == [("a", "/x/ckpt"), (None, "/y/checkpoint-3")]


def test_completions_continue_raw_text(client):
    reply = client.completions.create(
        model=MODEL, prompt="The quick brown", max_tokens=6, temperature=0, logprobs=2
    )
    choice = reply.choices[0]
    assert isinstance(choice.text, str) and 0 < reply.usage.completion_tokens <= 6
    assert len(choice.logprobs.tokens) == reply.usage.completion_tokens
    streamed = client.completions.create(
        model=MODEL, prompt="The quick brown", max_tokens=6, temperature=0, stream=True
    )
    assert "".join(c.choices[0].text for c in streamed) == choice.text


def test_completions_take_token_ids_as_openai_does(server, client):
    from transformers import AutoTokenizer

    ids = AutoTokenizer.from_pretrained(server["model"])("The quick brown")["input_ids"]
    settings = {"model": MODEL, "max_tokens": 6, "temperature": 0}
    by_text = client.completions.create(prompt="The quick brown", **settings)
    by_ids = client.completions.create(prompt=ids, **settings)
    assert by_ids.choices[0].text == by_text.choices[0].text
    assert by_ids.usage.prompt_tokens == by_text.usage.prompt_tokens == len(ids)
    both = client.completions.create(prompt=[ids, ids[:-1]], **settings)
    assert len(both.choices) == 2 and both.choices[0].text == by_text.choices[0].text
    outside = assert_error(post(server, "/v1/completions", {**settings, "prompt": [10**9]}), 400)
    assert (
        outside["param"] == "prompt"
        and "Token id 1000000000 is not in the model's vocabulary" in outside["message"]
    )
    assert assert_error(post(server, "/v1/completions", {**settings, "prompt": []}), 400)["param"] == "prompt"


def test_adapters_are_served_by_name(client):
    base = chat(client, "hi", max_tokens=12).choices[0].message.content
    first = chat(client, "hi", model="lora1", max_tokens=12).choices[0].message.content
    second = chat(client, "hi", model="lora2", max_tokens=12).choices[0].message.content
    assert first != base and second != base and first != second
    assert chat(client, "hi", max_tokens=12).choices[0].message.content == base  # adapters off again


def test_adapters_load_and_unload_at_run_time(server, client):
    expected = chat(client, "hi", model="lora1", max_tokens=12).choices[0].message.content
    loaded = post(
        server, "/v1/adapters/load", {"name": "lora3", "path": str(server["allowed"] / "copy-of-lora1")}
    )
    assert loaded.status_code == 200, loaded.text
    assert "lora3" in {m.id for m in client.models.list().data}
    assert chat(client, "hi", model="lora3", max_tokens=12).choices[0].message.content == expected
    assert post(server, "/v1/adapters/unload", {"name": "lora3"}).status_code == 200
    assert "lora3" not in {m.id for m in client.models.list().data}
    with pytest.raises(openai.BadRequestError):
        chat(client, "hi", model="lora3")
    assert_error(post(server, "/v1/adapters/unload", {"name": "lora3"}), 404)
    assert_error(post(server, "/v1/adapters/load", {"name": "x", "path": "no-such-folder"}), 400)
    assert_error(post(server, "/v1/adapters/load", {"name": "lora1", "path": "copy-of-lora1"}), 400)


def test_missing_or_wrong_key_is_401(server):
    wrong = openai.OpenAI(base_url=f"{server['url']}/v1", api_key="sk-wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as caught:
        chat(wrong, "hi")
    assert caught.value.status_code == 401
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}
    assert (
        assert_error(post(server, "/v1/chat/completions", body, key=None), 401)["code"] == "invalid_api_key"
    )
    assert_error(httpx.get(f"{server['url']}/v1/models"), 401)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "temperature": -1}, "temperature"),
        ({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, "max_tokens"),
        (
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": "hi"}],
                "logprobs": True,
                "top_logprobs": 6,
            },
            None,
        ),
        ({"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, "model"),
        ({"model": MODEL, "messages": []}, "messages"),
    ],
)
def test_bad_requests_are_400_with_an_openai_error(server, body, param):
    error = assert_error(post(server, "/v1/chat/completions", body), 400)
    assert error["type"] == "invalid_request_error"
    if param:
        assert error["param"] == param


def test_bad_request_through_the_client(client):
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, "hi", temperature=-1)
    assert caught.value.status_code == 400


def test_32_concurrent_streams_all_complete(server, client):
    expected = {p: chat(client, p, max_tokens=16).choices[0].message.content for p in PROMPTS}

    async def one(aclient, prompt: str) -> tuple[str, str | None]:
        stream = await aclient.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": prompt}],
            max_tokens=16,
            temperature=0,
            stream=True,
        )
        text, finish = "", None
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
        return text, finish

    async def main():
        aclient = openai.AsyncOpenAI(base_url=f"{server['url']}/v1", api_key=KEY, max_retries=0)
        async with aclient:
            return await asyncio.gather(*(one(aclient, PROMPTS[i % len(PROMPTS)]) for i in range(32)))

    results = asyncio.run(main())
    assert len(results) == 32
    for i, (text, finish) in enumerate(results):
        assert finish in ("stop", "length")
        assert text == expected[PROMPTS[i % len(PROMPTS)]]


def test_a_client_leaving_mid_stream_does_not_disturb_the_others(server, client):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 40, "stream": True}
    headers = {"Authorization": f"Bearer {KEY}"}
    url = f"{server['url']}/v1/chat/completions"

    async def leaver(http):
        async with http.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if line.startswith("data: {") and '"content": "' in line and '"role"' not in line:
                    return line  # leaves after the first content chunk

    async def stayer(http):
        lines = []
        async with http.stream("POST", url, json=body, headers=headers) as response:
            async for line in response.aiter_lines():
                if line:
                    lines.append(line)
        return lines

    async def main():
        async with httpx.AsyncClient(timeout=30) as http:
            return await asyncio.gather(leaver(http), *(stayer(http) for _ in range(3)))

    left, *stayed = asyncio.run(main())
    assert left is not None
    full = chat(client, "hi", max_tokens=40).choices[0].message.content
    for lines in stayed:
        assert lines[-1] == "data: [DONE]"
        chunks = [json.loads(line[len("data: ") :]) for line in lines[:-1]]
        assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == full
        assert chunks[-1]["choices"][0]["finish_reason"] in ("stop", "length")


def test_an_engine_that_loads_its_own_model_gets_the_folder(tk_plugins, tmp_path):
    """`--infer_backend vllm` (any `loads_model` engine) is built from the model folder and
    the adapter entries, as `tk run infer` builds it, not from a model loaded here."""
    from tunekite.api import ChatResponse, EngineSpec, hookimpl
    from tunekite.tasks.deploy import build_server

    built = []

    class FolderEngine:
        def __init__(self, folder, tokenizer, template, args, **options):
            built.append((Path(folder), options))

        def infer(self, requests):
            return [ChatResponse(text="ok", finish_reason="stop", prompt_tokens=1, completion_tokens=1)]

        def stream(self, request):
            yield "ok"

    class FolderEnginePlugin:
        @staticmethod
        @hookimpl
        def tk_register_engines(register):
            register(EngineSpec(name="folder", summary="test", factory=FolderEngine, loads_model=True))

    from importlib.metadata import entry_points

    for point in entry_points(group="tunekite"):  # the installed plugins, as tk would load them
        tk_plugins.add(point.load(), name=point.name)
    tk_plugins.add(FolderEnginePlugin, name="folder-engine")
    model_dir = save_tiny_chat_model(tmp_path / "tiny-chat")
    adapter = save_tiny_lora(model_dir, tmp_path / "lora1", 1)
    run, _ = resolve(
        "deploy",
        [
            *("--model", str(model_dir), "--template", "chatml", "--infer_backend", "folder"),
            *("--adapters", f"lora1={adapter}", "--port", "0"),
        ],
    )
    build_server(run)
    ((folder, options),) = built
    assert folder == model_dir and options["adapters"] == [f"lora1={adapter}"]
