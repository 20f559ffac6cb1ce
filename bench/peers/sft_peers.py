"""Peer LoRA SFT runs for bench/sft.py: the same model folder, data and setting as ours."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import TypeVar

from peers import llamafactory, ms_swift
from peers.envs import Peer
from peers.process import bench_env, run_measured
from peers.setting import SftResult, SftSetting

T = TypeVar("T")
COMMANDS = {"ms-swift": ms_swift, "llamafactory": llamafactory}


def setting(data: Path, steps: int, batch: int = 4, model_dir: Path | None = None) -> SftSetting:
    """The setting on `model_dir`, by default SmolLM2-135M-Instruct's plain Hugging Face folder
    (the one TuneKite's `smollm2-135m-instruct` loads from), so every side starts from the
    same weights."""
    if model_dir is None:
        from tunekite_gguf.named import smollm2_folder

        model_dir = smollm2_folder()
    return SftSetting(model_dir=model_dir, data=data, steps=steps, batch=batch)


def alternate(ours: list[T], peers: list[T]) -> list[T]:
    """Ours and the peers' runs taking turns (ours first), so a drift in the machine's speed
    during the bench touches both sides alike."""
    turns = itertools.zip_longest(ours, peers)
    return [run for pair in turns for run in pair if run is not None]


def run(peer: Peer, setting: SftSetting, work: Path) -> dict[str, float]:
    out = work / peer.name
    shutil.rmtree(out, ignore_errors=True)
    commands = COMMANDS[peer.name]
    log = work / f"{peer.name}.log"
    measured = run_measured(commands.sft_command(setting, out), log, env=bench_env())
    if measured.returncode != 0:
        raise SystemExit(f"{peer.name}: its sft run failed (exit {measured.returncode}), see {log}")
    runtime, last_loss = commands.sft_result(out)
    return SftResult(runtime, last_loss, measured.wall_s, measured.peak_rss_mb).as_row(
        setting.steps * setting.batch
    )


def ratios(ours: dict[str, dict], peers: dict[str, dict]) -> dict[str, float]:
    """samples/s of each of our configurations over each peer's, e.g. `padded_over_ms-swift`,
    from the train runtimes (every run trains the same samples; samples/s is rounded)."""
    return {
        f"{name}_over_{peer}": round(peer_row["train_runtime_s"] / row["train_runtime_s"], 3)
        for name, row in ours.items()
        for peer, peer_row in peers.items()
    }
