"""Several processes and machines on this CPU (gloo): `NPROC_PER_NODE=2 tk run sft` and two
"machines" (`NNODES=2`, two commands) train as one process would, into one folder that
rank 0 chose, with checkpoints every rank took part in.

Each distributed run is compared with the same run in one process (in this process:
no start-up cost): 2 ranks x batch 2 and 1 process x batch 4 read the same samples in
the same order, and with `--average_tokens_across_devices true` the loss is the same
mean over the same tokens, so the curves agree to float rounding (LOSS_TOLERANCE).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import TK, quick_sft_argv, run_tk
from tunekite.api import ArgumentError, start
from tunekite.distributed import torchrun_options

LOSS_TOLERANCE = 1e-4
"""Relative difference allowed between the one-process and the 2-rank loss at each step
(measured: below 1e-6; gloo's all-reduce sums in another order than one process does)."""

STEPS = ["--max_steps", "4", "--save_steps", "2", "--learning_rate", "1e-2", "--lora_dropout", "0",
         "--average_tokens_across_devices", "true"]  # fmt: skip
TORCHRUN_ENV = ("NPROC_PER_NODE", "NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK", "RANK",
                "WORLD_SIZE")  # fmt: skip


def losses(folder: Path) -> list[float]:
    records = [json.loads(line) for line in (folder / "logging.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def one_process(tiny_chat, out: Path, *extra: str) -> list[float]:
    model, data = tiny_chat
    start("sft", quick_sft_argv(model, data, out, *STEPS, *extra))
    return losses(out)


def assert_same_curve(expected: list[float], got: list[float]) -> None:
    assert len(got) == len(expected) == 4
    for step, (a, b) in enumerate(zip(expected, got, strict=True), 1):
        assert abs(a - b) <= LOSS_TOLERANCE * abs(a), f"step {step}: one process {a}, two ranks {b}"


def distributed_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}
    return {**env, "COLUMNS": "200", **values}


def free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def test_torchrun_options_follow_ms_swift_variables():
    argv = ["run", "sft", "--model", "m"]
    assert torchrun_options(argv, {}) is None
    assert torchrun_options(argv, {"NPROC_PER_NODE": "2", "LOCAL_RANK": "0"}) is None  # already a worker
    single = torchrun_options(argv, {"NPROC_PER_NODE": "2"})
    assert single == ["--nproc_per_node=2", "--standalone", "-m", "tunekite", *argv]
    env = {"NNODES": "2", "NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}
    nodes = torchrun_options(argv, env)
    assert nodes[:4] == ["--nnodes=2", "--node_rank=1", "--master_addr=10.0.0.1", "--master_port=29500"]
    assert "--standalone" not in nodes


def test_nccl_on_cpu_is_refused_in_one_line(tiny_chat, tmp_path):
    model, data = tiny_chat
    with pytest.raises(ArgumentError, match="--ddp_backend nccl needs CUDA"):
        start("sft", quick_sft_argv(model, data, tmp_path / "out", "--ddp_backend", "nccl"))
    result = run_tk("run", "sft", *quick_sft_argv(model, data, tmp_path / "out", "--ddp_backend", "nccl"),
                    env={"NPROC_PER_NODE": "2"})  # fmt: skip
    assert result.returncode != 0
    assert "--ddp_backend nccl needs CUDA" in result.stderr and "Traceback" not in result.stderr
    assert "torch.distributed.run" not in result.stderr  # refused before torchrun starts


def test_nproc_per_node_trains_like_one_process_into_one_versioned_folder(tiny_chat, tmp_path):
    """`NPROC_PER_NODE=2 tk run sft` with the default `v<N>-<timestamp>` folder: one folder,
    args.json and the manifest from rank 0, checkpoints holding both ranks' RNG state that
    load with peft, and the one-process loss curve."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, data = tiny_chat
    expected = one_process(tiny_chat, tmp_path / "one", "--per_device_train_batch_size", "4")
    argv = quick_sft_argv(model, data, tmp_path / "out", *STEPS, "--per_device_train_batch_size", "2")
    argv[argv.index("--add_version") + 1] = "true"
    result = subprocess.run([TK, "run", "sft", *argv], env=distributed_env(NPROC_PER_NODE="2"),
                            capture_output=True, text=True, timeout=240)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.startswith("v0-")
    assert sorted(p.name for p in folder.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    assert not (folder / ".staging").exists()
    assert json.loads((folder / "args.json").read_text())["per_device_train_batch_size"] == 2
    assert (folder / "run_manifest.json").is_file() and (folder / "images" / "train_loss.png").is_file()
    checkpoint = folder / "checkpoint-4"
    assert {p.name for p in checkpoint.glob("rng_state_*.pth")} == {"rng_state_0.pth", "rng_state_1.pth"}
    assert result.stdout.count("last checkpoint:") == 1  # said by rank 0 alone
    assert_same_curve(expected, losses(folder))
    tuned = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(model), checkpoint)
    assert any("lora_A" in name for name, _ in tuned.named_parameters())


def test_two_machines_streaming_with_gradient_accumulation_train_as_one_process(tiny_chat, tmp_path):
    """Two `tk run sft` commands, `NNODES=2 NODE_RANK=0|1`, one rank each, on 127.0.0.1:
    they rendezvous, agree on rank 0's versioned folder, and with gradient accumulation
    follow the one-process curve. The data is streamed: each rank reads its share of
    every global batch (no rank 0 dispatching batches padded apart)."""
    model, data = tiny_chat
    extra = ["--gradient_accumulation_steps", "2", "--streaming", "true"]
    expected = one_process(tiny_chat, tmp_path / "one", "--per_device_train_batch_size", "4", *extra)
    argv = quick_sft_argv(model, data, tmp_path / "out", *STEPS, *extra, "--per_device_train_batch_size", "2")
    argv[argv.index("--add_version") + 1] = "true"
    port = free_port()
    nodes = [
        subprocess.Popen(
            [TK, "run", "sft", *argv],
            env=distributed_env(NNODES="2", NODE_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=240) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[-3000:]
    (folder,) = (tmp_path / "out").iterdir()
    assert folder.name.startswith("v0-")
    assert_same_curve(expected, losses(folder))
    assert {p.name for p in (folder / "checkpoint-4").glob("rng_state_*.pth")} == {
        "rng_state_0.pth",
        "rng_state_1.pth",
    }


def torchrun(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`python -m torch.distributed.run --nproc_per_node 2 -m tunekite run ...`: the direct
    way in, without `tk` re-executing itself."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "tunekite", "run", *argv]  # fmt: skip
    result = subprocess.run(
        command, env=distributed_env(**(env or {})), capture_output=True, text=True, timeout=240
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def rlhf_argv(kind: str, model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "--rlhf_type", kind, "--model", str(model), "--template", "chatml", "--dataset", str(data),
        "--output_dir", str(out), "--add_version", "false", "--report_to", "none",
        "--split_dataset_ratio", "0", "--gradient_checkpointing", "false", "--logging_steps", "1",
        "--lora_dropout", "0", *extra,
    ]  # fmt: skip


def test_dpo_on_two_ranks_follows_the_one_process_curve(tiny_chat, tmp_path):
    """DPO's loss is a mean over pairs, so 2 ranks x 2 pairs average to the 1 x 4 loss."""
    model, _ = tiny_chat
    rows = [
        {"messages": [{"role": "user", "content": f"hi {i}"}, {"role": "assistant", "content": "good"}],
         "rejected_response": "bad bad"}
        for i in range(16)
    ]  # fmt: skip
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    steps = ["--max_steps", "3", "--save_steps", "3", "--max_length", "48", "--learning_rate", "1e-2"]
    one = rlhf_argv("dpo", model, pairs, tmp_path / "one", *steps, "--per_device_train_batch_size", "4")
    two = rlhf_argv("dpo", model, pairs, tmp_path / "two", *steps, "--per_device_train_batch_size", "2")
    start("rlhf", one)
    torchrun("rlhf", *two)
    expected, got = losses(tmp_path / "one"), losses(tmp_path / "two")
    assert len(got) == len(expected) == 3 and len(set(got)) == 3  # the policy moved
    for a, b in zip(expected, got, strict=True):
        assert abs(a - b) <= LOSS_TOLERANCE * abs(a)
    assert (tmp_path / "two" / "checkpoint-3" / "adapter_model.safetensors").is_file()


LENGTH_REWARD = """
import json, os
from tunekite.api import RewardSpec, hookimpl

def build(args):
    def length(completions, completion_ids=None, **columns):
        sizes = [len(ids) for ids in completion_ids]
        with open(os.environ["LENGTHS_LOG"], "a") as out:
            out.write(json.dumps({"rank": int(os.environ["RANK"]), "lengths": sizes}) + "\\n")
        return [float(n) for n in sizes]
    return length

@hookimpl
def tk_register_rewards(register):
    register(RewardSpec(name="length", summary="completion length in tokens", factory=build))
"""


def test_grpo_on_two_ranks_generating_different_lengths_does_not_deadlock(tiny_chat, tmp_path):
    """A model whose end-of-turn token is likely stops its completions early at random
    places, so in some step one rank decodes more tokens than the other; TRL generates
    with the model unwrapped from DDP (no collective per decoding step), so training goes
    on. A reward records each rank's completion lengths, to show they differed."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, _ = tiny_chat
    policy = AutoModelForCausalLM.from_pretrained(model)
    tokenizer = AutoTokenizer.from_pretrained(model)
    with torch.no_grad():
        policy.lm_head.weight[tokenizer.eos_token_id] *= 30
    policy.save_pretrained(tmp_path / "stops-early")
    tokenizer.save_pretrained(tmp_path / "stops-early")
    prompts = tmp_path / "prompts.jsonl"
    rows = [{"messages": [{"role": "user", "content": f"{i}+{i}?"}]} for i in range(16)]
    prompts.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (tmp_path / "length_reward.py").write_text(LENGTH_REWARD, encoding="utf-8")
    log = tmp_path / "lengths.jsonl"
    torchrun(
        "rlhf",
        *rlhf_argv("grpo", tmp_path / "stops-early", prompts, tmp_path / "out", "--max_steps", "3",
                   "--save_steps", "3", "--per_device_train_batch_size", "2", "--num_generations", "2",
                   "--max_completion_length", "8", "--learning_rate", "1e-3",
                   "--external_plugins", str(tmp_path / "length_reward.py"), "--reward_funcs", "length"),
        env={"LENGTHS_LOG": str(log)},
    )  # fmt: skip
    records = [json.loads(line) for line in log.read_text().splitlines()]
    by_rank = {rank: [max(r["lengths"]) for r in records if r["rank"] == rank] for rank in (0, 1)}
    assert len(by_rank[0]) == len(by_rank[1]) == 3
    assert any(a != b for a, b in zip(by_rank[0], by_rank[1], strict=True)), by_rank
    assert len(losses(tmp_path / "out")) == 3
    assert (tmp_path / "out" / "checkpoint-3" / "adapter_model.safetensors").is_file()
