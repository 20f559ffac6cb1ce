"""`tk run infer` on a tiny model: the terminal chat on stdin, dataset batches into jsonl,
and `--adapters CKPT` finding its base model through the checkpoint's args.json."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tunekite import hookimpl
from tunekite.api import resolve
from tunekite.cli import main
from tunekite.errors import ArgumentError
from tunekite.registrations import TemplateSpec, TunerSpec
from tunekite.tasks.loading import with_checkpoint_args
from tunekite.templates.format import ChatFormat

CHATML = ChatFormat(
    name="tiny-chatml",
    system="<|im_start|>system\n{content}<|im_end|>\n",
    user="<|im_start|>user\n{content}<|im_end|>\n",
    assistant_header="<|im_start|>assistant\n",
    assistant_end="<|im_end|>",
    turn_sep="\n",
)
JINJA = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GREEDY = ["--temperature", "0", "--max_new_tokens", "6"]


@hookimpl
def tk_register_templates(register):
    markers = ("<|im_start|>", "<|im_end|>")
    register(
        TemplateSpec(format=CHATML, summary="ChatML", chat_template_markers=markers)
    )


@hookimpl
def tk_register_tuners(register):
    register(TunerSpec(name="lora", summary="stand-in for the lora plugin", factory=lambda model, *_: model))


TestPlugin = type(
    "TestPlugin", (), {f.__name__: staticmethod(f) for f in (tk_register_templates, tk_register_tuners)}
)


@pytest.fixture
def host(tk_plugins, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tk_plugins.add(TestPlugin, name="tiny-chatml")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    """A saved tiny Llama with a ChatML tokenizer, and a LoRA checkpoint of it laid out as
    the sft recipe writes one: `run/v0-x/checkpoint-5/` plus the run's `args.json`."""
    from peft import LoraConfig, get_peft_model

    from tunekite.testing import tiny_causal_lm, tiny_tokenizer

    root = tmp_path_factory.mktemp("tiny")
    tokenizer = tiny_tokenizer(JINJA, ("<|im_start|>", "<|im_end|>"), eos_token="<|im_end|>")
    model = tiny_causal_lm(seed=1)
    model.resize_token_embeddings(len(tokenizer))
    model.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights="gaussian")
    run_folder = root / "output" / "v0-20260101-000000"
    get_peft_model(model, lora).save_pretrained(run_folder / "checkpoint-5")
    args = {
        "model": str(root / "base"),
        "template": "tiny-chatml",
        "system": "You are Kite.",
        "tuner": "lora",
    }
    (run_folder / "args.json").write_text(json.dumps({**args, "learning_rate": 1e-4, "dataset": ["x.jsonl"]}))
    return root


def tk(argv: list[str], stdin: str, monkeypatch, capsys) -> str:
    """`tk ARGV` in this process with `stdin` piped in; returns stdout."""
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out, err = capsys.readouterr()
    assert exit_.value.code in (0, None), err
    return out


def test_chat_on_stdin_with_clear_and_exit(host, tiny, monkeypatch, capsys):
    argv = ["run", "infer", "--model", str(tiny / "base"), *GREEDY]
    out = tk(argv, "hello\nhello\nclear\nhello\nexit\nnever read\n", monkeypatch, capsys)
    assert out.count("<<< ") == 5
    first, _, _, third, _ = out.split("<<< ")[1:]
    assert first.strip() and first == third  # `clear` forgets the history
    assert "History cleared" in out


def test_chat_keeps_history_until_clear(monkeypatch, capsys):
    from tunekite.engines.protocol import ChatResponse
    from tunekite.tasks.chat import chat

    class Recorder:
        def __init__(self):
            self.seen = []

        def infer(self, requests):
            self.seen.append([m["content"] for m in requests[0].messages])
            return [
                ChatResponse(
                    text=f"r{len(self.seen)}", finish_reason="stop", prompt_tokens=1, completion_tokens=1
                )
            ]

    engine = Recorder()
    monkeypatch.setattr(sys, "stdin", io.StringIO("a\n\nb\nclear\nc\nquit\n"))
    chat(engine, {"max_tokens": 3})
    assert engine.seen == [["a"], ["a", "r1", "b"], ["c"]]
    assert "r3" in capsys.readouterr().out


def test_chat_streams_and_ends_at_eof(host, tiny, monkeypatch, capsys):
    plain = tk(["run", "infer", "--model", str(tiny / "base"), *GREEDY], "hello\n", monkeypatch, capsys)
    streamed = tk(
        ["run", "infer", "--model", str(tiny / "base"), *GREEDY, "--stream", "true"],
        "hello\n",
        monkeypatch,
        capsys,
    )
    assert streamed == plain
    assert plain.count("<<< ") == 2


def test_dataset_batches_into_jsonl(host, tiny, tmp_path, monkeypatch, capsys):
    rows = [
        {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": f"answer {i}"}]}
        for i, q in enumerate(["hi", "what is 2+2?", "who are you?", "hello there", "why"])
    ]
    rows.append({"messages": [{"role": "user", "content": "prompt only"}]})
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    base = ["run", "infer", "--model", str(tiny / "base"), "--val_dataset", str(data), *GREEDY]
    tk(
        [*base, "--max_batch_size", "4", "--write_batch_size", "5", "--logprobs", "true"],
        "",
        monkeypatch,
        capsys,
    )
    (result,) = Path("result/base/infer_result").glob("*.jsonl")  # ms-swift's place without a checkpoint
    assert not Path("output").exists()
    records = [json.loads(line) for line in result.read_text().splitlines()]
    assert [r["labels"] for r in records] == [*(f"answer {i}" for i in range(5)), None]
    assert [r["messages"][0] for r in records] == [r["messages"][0] for r in rows]
    assert all(r["messages"][-1] == {"role": "assistant", "content": r["response"]} for r in records)
    assert all(len(r["logprobs"]) <= 6 for r in records)

    one_by_one = tmp_path / "single.jsonl"
    tk([*base, "--result_path", str(one_by_one)], "", monkeypatch, capsys)
    assert [json.loads(line)["response"] for line in one_by_one.read_text().splitlines()] == [
        r["response"] for r in records
    ]
    sampled = tmp_path / "sampled.jsonl"
    tk([*base, "--result_path", str(sampled), "--val_dataset_sample", "2"], "", monkeypatch, capsys)
    assert len(sampled.read_text().splitlines()) == 2


def test_adapters_alone_find_the_base_model_in_args_json(host, tiny):
    checkpoint = tiny / "output" / "v0-20260101-000000" / "checkpoint-5"
    run, _ = resolve("infer", ["--adapters", str(checkpoint)])
    filled = with_checkpoint_args(run)
    assert filled.model == str(tiny / "base")
    assert (filled.template, filled.system) == ("tiny-chatml", "You are Kite.")
    assert filled.dataset == [], "data arguments are never inherited"
    explicit, _ = resolve("infer", ["--adapters", str(checkpoint), "--system", "Be brief."])
    assert with_checkpoint_args(explicit).system == "Be brief."


def test_adapter_chat_and_merge_lora(host, tiny, monkeypatch, capsys):
    checkpoint = tiny / "output" / "v0-20260101-000000" / "checkpoint-5"
    base = tk(["run", "infer", "--model", str(tiny / "base"), *GREEDY], "hello\n", monkeypatch, capsys)
    adapted = tk(["run", "infer", "--adapters", str(checkpoint), *GREEDY], "hello\n", monkeypatch, capsys)
    assert adapted != base
    merged = tk(
        ["run", "infer", "--adapters", str(checkpoint), "--merge_lora", "true", *GREEDY],
        "hello\n",
        monkeypatch,
        capsys,
    )
    assert merged == adapted
    assert (checkpoint.parent / "checkpoint-5-merged" / "config.json").is_file()


def test_missing_base_model_is_a_clear_error(host, tmp_path):
    lonely = tmp_path / "checkpoint-1"
    lonely.mkdir()
    run, _ = resolve("infer", ["--adapters", str(lonely)])
    with pytest.raises(ArgumentError, match="No base model"):
        with_checkpoint_args(run)
    run, _ = resolve("infer", ["--adapters", str(tmp_path / "nowhere")])
    with pytest.raises(ArgumentError, match="no such folder"):
        with_checkpoint_args(run)


def test_named_adapters_name_every_adapter(tmp_path) -> None:
    """What engines that serve adapters only by name (vLLM, LMDeploy) get from --adapters."""
    from tunekite.api import named_adapters

    (tmp_path / "ckpt").mkdir()
    (tmp_path / "other").mkdir()
    assert named_adapters([str(tmp_path / "ckpt")]) == {"default": str(tmp_path / "ckpt")}
    assert named_adapters([str(tmp_path / "ckpt"), str(tmp_path / "other")]) == {
        "default": str(tmp_path / "ckpt"),
        "other": str(tmp_path / "other"),
    }
    assert named_adapters(["kite=/a", "b=/b"]) == {"kite": "/a", "b": "/b"}
    with pytest.raises(ArgumentError, match="two adapters are named 'x'"):
        named_adapters(["x=/a", "x=/b"])


def test_the_checkpoint_template_is_used_and_a_missing_one_is_named(host, tmp_path):
    """A checkpoint's args.json records the template its run resolved; infer uses it or
    names the plugin to install."""
    checkpoint = tmp_path / "checkpoint-1"
    checkpoint.mkdir()
    (checkpoint / "args.json").write_text(json.dumps({"model": str(tmp_path), "template": "tiny-chatml"}))
    run, _ = resolve("infer", ["--adapters", str(checkpoint)])
    assert with_checkpoint_args(run).template == "tiny-chatml"
    (checkpoint / "args.json").write_text(json.dumps({"model": str(tmp_path), "template": "chatml"}))
    expected = r"trained with template 'chatml' \(its args.json\).*pip install tunekite-chatml"
    with pytest.raises(ArgumentError, match=expected):
        with_checkpoint_args(run)
    explicit, _ = resolve("infer", ["--adapters", str(checkpoint), "--template", "tiny-chatml"])
    assert with_checkpoint_args(explicit).template == "tiny-chatml"


def test_serving_tasks_take_no_tuner(host):
    for task in ("infer", "deploy", "export"):
        run, _ = resolve(task, ["--adapters", "a"])
        assert "tuner" not in run.groups and run.groups["adapters"].adapters == ["a"]
        assert "tuners" not in run.components
