"""Peer inference runs for bench/serving.py: the same prompts, new tokens, batch and dtype as
the pt engine's batched run, each through the peer's own command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from peers import llamafactory, ms_swift
from peers.envs import Peer
from peers.process import bench_env, run_measured
from peers.setting import InferSetting


def compare(
    peers: list[Peer],
    texts: list[str],
    new_tokens: int,
    batch: int,
    dtype: str,
    ours_tokens_per_s: float,
    work: Path,
) -> dict[str, Any]:
    """Each peer's generation tokens/s (its own timing of the generation, model load left out, as
    the pt engine's figure leaves it out), and ours over it."""
    from tunekite_gguf.named import smollm2_folder

    work.mkdir(parents=True, exist_ok=True)
    prompts = work / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"messages": [{"role": "user", "content": t}]}) + "\n" for t in texts)
    )
    setting = InferSetting(
        model_dir=smollm2_folder(), prompts=prompts, new_tokens=new_tokens, batch=batch, dtype=dtype
    )
    results: dict[str, Any] = {}
    for peer in peers:
        seconds, tokens, measured = _run(peer, setting, work)
        rate = tokens / seconds
        results[peer.name] = {
            "seconds": round(seconds, 2),
            "completion_tokens": tokens,
            "tokens_per_s": round(rate, 1),
            "wall_s_including_load": measured.wall_s,
            "peak_rss_mb": measured.peak_rss_mb,
            "pt_engine_over_peer": round(ours_tokens_per_s / rate, 3),
            "versions": peer.versions(),
        }
        print(f"{peer.name}: {tokens} tokens in {seconds:.1f} s = {rate:.1f} tokens/s", flush=True)
    return results


def _run(peer: Peer, setting: InferSetting, work: Path) -> tuple[float, int, Any]:
    out = work / peer.name
    shutil.rmtree(out, ignore_errors=True)
    log = work / f"{peer.name}.log"
    command = (
        ms_swift.infer_command(setting, out)
        if peer.name == "ms-swift"
        else llamafactory.infer_command(setting, out)
    )
    measured = run_measured(command, log, env=bench_env())
    if measured.returncode != 0:
        raise SystemExit(f"{peer.name}: its inference run failed (exit {measured.returncode}), see {log}")
    if peer.name == "ms-swift":
        seconds, tokens = ms_swift.infer_result(log)
    else:
        seconds, texts = llamafactory.infer_result(out)
        tokens = _count_tokens(setting.model_dir, texts)
    return seconds, tokens, measured


def _count_tokens(model_dir: Path, texts: list[str]) -> int:
    """Completion tokens of the texts LLaMA-Factory wrote out (it reports no count), re-tokenized
    with the same tokenizer (a reply that stopped early loses its end-of-turn token here)."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    return sum(len(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts)
