"""`--use_vllm true` without vLLM: GRPO generates through whatever engine is registered as
`vllm` (here a fake one, in an isolated plugin host), never through TRL's own vLLM. The
requests carry GRPO's sampling settings and the prompt ids TRL tokenized; each step's
adapter is saved, loaded under a new name and the previous one unloaded; the completions
TRL trains on are the engine's token ids. The real engine: tests/test_grpo_vllm.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import ClassVar

import pytest

from tunekite.api import ArgumentError, ChatResponse, EngineSpec, arg, hookimpl

from . import test_grpo as base

PLUGINS = ("rlhf", "lora", "chatml", "text-rewards")
"""The installed plugins these runs need, by entry-point name."""
REPLY = "<answer>{}</answer>"


@dataclass(kw_only=True)
class FakeVllmArguments:
    """The fields of the vllm plugin's arguments that GRPO sets."""

    gpu_memory_utilization: float | None = arg(None, help="share of memory")
    max_model_len: int | None = arg(None, help="context length")
    vllm_max_lora_rank: int = arg(16, help="largest LoRA rank")


class FakeEngine:
    """Records what GRPO asks of it; answers batch N's requests with `<answer>N</answer>` + EOS."""

    built: ClassVar[list[FakeEngine]] = []

    def __init__(self, folder, tokenizer, template, engine_args, **options) -> None:
        self.folder, self.engine_args, self.options = Path(folder), engine_args, options
        self.adapters = dict(entry.split("=", 1) for entry in options["adapters"])
        self.batches: list[list] = []
        self.events: list[tuple] = []
        self.replies: list[list[int]] = []
        self.closed = False
        self.tokenizer = tokenizer
        FakeEngine.built.append(self)

    def infer(self, requests):
        for request in requests:
            assert (Path(self.adapters[request.adapter]) / "adapter_config.json").is_file()
        self.batches.append(list(requests))
        text = REPLY.format(len(self.batches))
        ids = [*self.tokenizer(text, add_special_tokens=False)["input_ids"], self.tokenizer.eos_token_id]
        self.replies.append(ids)
        return [
            ChatResponse(
                text=text,
                finish_reason="stop",
                prompt_tokens=len(r.prompt),
                completion_tokens=len(ids),
                token_ids=list(ids),
            )
            for r in requests
        ]

    def stream(self, request):
        yield self.infer([request])[0].text

    def load_adapter(self, name: str, folder: str) -> None:
        assert (Path(folder) / "adapter_config.json").is_file(), "saved before it is loaded"
        self.events.append(("load", name))
        self.adapters[name] = folder

    def unload_adapter(self, name: str) -> None:
        self.events.append(("unload", name))
        del self.adapters[name]

    def close(self) -> None:
        self.closed = True


class FakeVllmPlugin:
    @staticmethod
    @hookimpl
    def tk_register_engines(register):
        register(
            EngineSpec(
                name="vllm", summary="fake vLLM", args=FakeVllmArguments, factory=FakeEngine, loads_model=True
            )
        )


@pytest.fixture
def host(tk_plugins):
    """Only the plugins a GRPO run needs, installed ones by entry point; no vllm engine yet."""
    for point in entry_points(group="tunekite"):
        if point.name in PLUGINS:
            tk_plugins.add(point.load(), name=point.name)
    FakeEngine.built.clear()
    return tk_plugins


model_dir, prompts = base.model_dir, base.prompts  # the GRPO tests' tiny model and prompt rows


def grpo(model_dir: Path, data: Path, out: Path, *extra: str) -> dict:
    """The GRPO tests' short run with --use_vllm true and the `format` reward."""
    return base.grpo(model_dir, data, out, "--reward_funcs", "format", "--use_vllm", "true", *extra)


def test_completions_come_from_the_engine_with_each_steps_adapter(host, model_dir, prompts, tmp_path):
    from transformers import AutoTokenizer

    host.add(FakeVllmPlugin, name="fake-vllm")
    out = tmp_path / "run"
    result = grpo(
        model_dir, prompts, out,
        "--tuner", "lora",
        "--lora_rank", "32",
        "--temperature", "0.7", "--top_p", "0.8", "--top_k", "5", "--repetition_penalty", "1.1",
        "--vllm_gpu_memory_utilization", "0.25", "--vllm_max_model_len", "64",
        "--log_completions", "true",
    )  # fmt: skip
    (engine,) = FakeEngine.built

    # One engine, over the base model's folder, started with the policy's adapter before training.
    assert engine.folder == model_dir
    (first,) = engine.options["adapters"]
    name, path = first.split("=", 1)
    assert name == "policy-step-0" and Path(path).parent.parent == out
    assert (engine.options["torch_dtype"], engine.options["seed"]) == ("float32", 42)
    args = engine.engine_args
    assert (args.gpu_memory_utilization, args.max_model_len, args.vllm_max_lora_rank) == (0.25, 64, 32)

    # Two generation batches of 4 (2 prompts x 2 generations), one completion per request.
    assert [len(batch) for batch in engine.batches] == [4, 4]
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for batch, adapter in zip(engine.batches, ("policy-step-0", "policy-step-1"), strict=True):
        for request in batch:
            assert (request.max_tokens, request.temperature, request.top_p, request.top_k) == (8, 0.7, 0.8, 5)
            assert (request.repetition_penalty, request.n, request.adapter) == (1.1, 1, adapter)
            text = tokenizer.decode(request.prompt)
            assert text.startswith("<|im_start|>user\n") and text.endswith("<|im_start|>assistant\n")
            assert request.prompt == tokenizer(text, add_special_tokens=False)["input_ids"]
        assert batch[0].prompt == batch[1].prompt and batch[2].prompt == batch[3].prompt

    # Step 1's adapter replaced step 0's; everything is cleaned up at the end.
    assert engine.events == [("load", "policy-step-1"), ("unload", "policy-step-0")]
    assert engine.closed
    assert not list(out.glob(".rollout-adapters-*"))

    # TRL trained on the engine's ids, and never started its own vLLM.
    trainer = result["trainer"]
    assert trainer.use_vllm is False and trainer.rollout_func is not None
    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert [r["step"] for r in completions] == [1] * 4 + [2] * 4
    expected = [tokenizer.decode(ids, skip_special_tokens=True) for ids in engine.replies]
    assert [r["completion"] for r in completions] == [expected[0]] * 4 + [expected[1]] * 4
    steps = [r for r in base.logs(out) if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2] and all("rewards/format/mean" in r for r in steps)
    assert [r["completions/mean_length"] for r in steps] == [len(ids) for ids in engine.replies]
    assert all(r["completions/clipped_ratio"] == 0 for r in steps), "the EOS ends every completion"


def test_full_tuning_is_refused_before_anything_loads(host, model_dir, prompts, tmp_path):
    host.add(FakeVllmPlugin, name="fake-vllm")
    with pytest.raises(ArgumentError, match="full weights into the vLLM engine plugin is not supported yet"):
        grpo(model_dir, prompts, tmp_path / "run", "--tuner", "full")
    assert not FakeEngine.built


def test_an_adapter_vllm_cannot_serve_is_refused(host, model_dir, prompts, tmp_path):
    host.add(FakeVllmPlugin, name="fake-vllm")
    with pytest.raises(ArgumentError, match="--use_dora true"):
        grpo(model_dir, prompts, tmp_path / "run", "--tuner", "lora", "--use_dora", "true")


def test_without_the_vllm_engine_plugin_the_error_names_it(host, model_dir, prompts, tmp_path):
    with pytest.raises(ArgumentError, match="pip install tunekite-vllm"):
        grpo(model_dir, prompts, tmp_path / "run", "--tuner", "lora")
