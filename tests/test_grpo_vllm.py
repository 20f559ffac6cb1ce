"""GRPO with `--use_vllm true` across three distributions: tunekite-rlhf's trainer asks
tunekite-vllm's engine (real vLLM, on a CPU here) for the completions, serving each step's
LoRA adapter, and TRL's own vLLM integration stays off. Needs vLLM, so it runs in
`.venv-vllm` (`make test-vllm`) and skips elsewhere; the engine's start takes a minute or
more on a CPU."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from tunekite.testing import save_tiny_chat_model

if importlib.util.find_spec("vllm") is None:
    pytest.skip("needs vLLM: make test-vllm", allow_module_level=True)

TINY_FOR_VLLM = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_attention_heads": 2,  # heads of 32: vLLM's CPU attention has no smaller ones
    "num_key_value_heads": 1,
    "max_position_embeddings": 256,
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_tiny_chat_model(tmp_path_factory.mktemp("tiny") / "tiny-chat", **TINY_FOR_VLLM)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    rows = [{"messages": [{"role": "user", "content": f"{i}+{i}?"}]} for i in range(8)]
    path = tmp_path_factory.mktemp("data") / "sums.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_two_grpo_steps_generate_through_the_vllm_engine_plugin(model_dir, prompts, tmp_path, monkeypatch):
    from tunekite.api import registry, start
    from tunekite_rlhf.rollout import EngineRollout

    spec = registry("engines").get("vllm")
    assert spec.load().__module__ == "tunekite_vllm.engine", "the real vllm engine plugin"
    calls: list[tuple[int, str | None]] = []
    original = EngineRollout.__call__

    def counted(self, prompts, trainer):
        generated = original(self, prompts, trainer)
        calls.append((trainer.state.global_step, self.adapter))
        assert len(generated["completion_ids"]) == len(prompts) and all(generated["completion_ids"])
        return generated

    monkeypatch.setattr(EngineRollout, "__call__", counted)
    out = tmp_path / "run"
    options = (
        "--rlhf_type grpo --template chatml --add_version false --report_to none --split_dataset_ratio 0 "
        "--gradient_checkpointing false --logging_steps 1 --save_steps 2 --max_steps 2 --learning_rate 1e-3 "
        "--per_device_train_batch_size 4 --num_generations 2 --max_completion_length 8 "
        "--tuner lora --lora_rank 8 --reward_funcs format repetition --log_completions true "
        "--use_vllm true --vllm_gpu_memory_utilization 0.1 --vllm_max_model_len 256"
    )
    paths = ["--model", str(model_dir), "--dataset", str(prompts), "--output_dir", str(out)]
    result = start("rlhf", [*options.split(), *paths])

    # Our engine generated both steps' completions, each step with that step's adapter.
    assert calls == [(0, "policy-step-0"), (1, "policy-step-1")]
    trainer = result["trainer"]
    assert trainer.use_vllm is False and isinstance(trainer.rollout_func, EngineRollout)
    assert not hasattr(trainer, "vllm_generation"), "TRL's own vLLM was never built"
    assert trainer.rollout_func.engine is None, "the engine was closed when training ended"
    assert not list(out.glob(".rollout-adapters-*"))

    steps = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines()]
    steps = [r for r in steps if "loss" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for record in steps:
        assert "rewards/format/mean" in record and "rewards/repetition/mean" in record and "reward" in record
        assert 0 < record["completions/mean_length"] <= 8

    completions = [json.loads(line) for line in (out / "completions.jsonl").read_text().splitlines()]
    assert {r["step"] for r in completions} == {1, 2}
    assert len(completions) == 8  # two steps of 4 completions (2 prompts x 2 generations)
    assert all(isinstance(r["completion"], str) for r in completions)
    assert any(r["completion"] for r in completions), "the tiny random model says something"
    assert (out / "checkpoint-2" / "adapter_model.safetensors").exists()
