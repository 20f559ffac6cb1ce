"""Template throughput: conversations encoded per second through `datasets.map`, and packing.

Target (issue 3): >= 2,000 rows/s with one process (`--dataset_num_proc 1`), on 20,000
generated multi-turn conversations (1-4 rounds, some with a system prompt, some Chinese)
through the smollm2 (ChatML) template and the real SmolLM2 tokenizer (issue 19: >= 5x
ms-swift's rows/s). One process; the Rust tokenizer's own thread pool (rayon) is allowed
and recorded, as are the process's CPU seconds beside the wall-clock ones. Packing
efficiency is the share of real tokens in the packed rows at each max_length. ms-swift's
template `encode` runs over the same rows in its own environment (`make bench-peers`),
and the results record ours over its rows/s.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

from peers import template_peers
from peers.envs import SWIFT, available

WORDS = (
    "the model learns to answer questions about data science , python code and history with short "
    "clear sentences while keeping every detail exact ; numbers like 42 3.14 and 2026 appear too ?"
)
CHINESE = "我们今天讨论机器学习模型的训练方法以及数据处理的步骤请详细说明每一个环节为什么重要"


def _text(rng: random.Random, chinese: bool, low: int, high: int) -> str:
    size = rng.randint(low, high)
    if chinese:
        return "".join(rng.choice(CHINESE) for _ in range(size * 2))
    words = WORDS.split(" ")
    return " ".join(rng.choice(words) for _ in range(size)).capitalize() + "."


def conversations(count: int, seed: int = 0) -> list[dict[str, Any]]:
    """Deterministic multi-turn rows in the canonical `messages` format."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        chinese = rng.random() < 0.25
        messages = []
        if rng.random() < 0.3:
            messages.append({"role": "system", "content": _text(rng, chinese, 5, 20)})
        for _ in range(rng.randint(1, 4)):
            messages.append({"role": "user", "content": _text(rng, chinese, 5, 60)})
            messages.append({"role": "assistant", "content": _text(rng, chinese, 10, 150)})
        rows.append({"messages": messages})
    return rows


def smollm2_tokenizer() -> Any:
    """The real SmolLM2 tokenizer, from the GGUF plugin's cached Hugging Face folder."""
    from transformers import AutoTokenizer

    from tunekite_gguf.named import smollm2_folder

    return AutoTokenizer.from_pretrained(smollm2_folder())


def main() -> None:
    import datasets
    import numpy as np

    from tunekite.data.packing import pack_dataset
    from tunekite.plugin_host import get_host

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--num_proc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--max_lengths", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--output", default="bench/results/templates.json")
    parser.add_argument("--peers", nargs="*", default=[SWIFT.name], help="ms-swift, or none")
    parser.add_argument(
        "--rounds", type=int, default=3, help="ours (one process) and ms-swift measured alternately, N times"
    )
    parser.add_argument("--work", type=Path, default=Path("output/bench-templates"))
    opts = parser.parse_args()
    peers = available(opts.peers)

    datasets.disable_progress_bars()
    start = time.perf_counter()
    tokenizer = smollm2_tokenizer()
    load_s = time.perf_counter() - start
    template = get_host().registry("templates").get("smollm2").build(tokenizer)
    rows = datasets.Dataset.from_list(conversations(opts.rows))
    results: dict[str, Any] = {
        "rows": opts.rows,
        "tokenizer_load_s": round(load_s, 2),
        "target_rows_per_s_one_process": 2000,
        "tokenizer_threads": _tokenizer_threads(),
        "encode": {},
        "packing": {},
        "machine": {"python": platform.python_version(), "cpus": _cpus()},
    }
    encoded = None
    for num_proc in opts.num_proc:
        encoded, figures = _encode(rows, template, num_proc)
        results["encode"][f"num_proc={num_proc}"] = figures
        print(
            f"encode  --dataset_num_proc {num_proc}: {figures['seconds']:6.2f} s  "
            f"{figures['rows_per_s']:7.0f} rows/s  ({figures['cpu_seconds_this_process']:.2f} CPU s in this "
            f"process; tokenizer threads: {results['tokenizer_threads']}; load {figures['load_average']})"
        )
    lengths = np.asarray(encoded.with_format("numpy")["length"])
    results["tokens_per_row"] = {"mean": round(float(lengths.mean()), 1), "max": int(lengths.max())}
    one = results["encode"].get("num_proc=1")
    results["meets_target"] = None if one is None else one["rows_per_s"] >= 2000
    if peers and one is not None:
        swift = template_peers.swift_encoder(conversations(opts.rows), opts.work)
        ours_rounds, swift_rounds = [one], [swift()]
        for _ in range(opts.rounds - 1):
            cold = get_host().registry("templates").get("smollm2").build(smollm2_tokenizer())  # no cache
            ours_rounds.append(_encode(rows, cold, 1)[1])
            swift_rounds.append(swift())
        results["peers"] = template_peers.compare(ours_rounds, swift_rounds)
        print(f"peers: {json.dumps(results['peers'])}")
    for max_length in opts.max_lengths:
        fitting = encoded.select(np.flatnonzero(lengths <= max_length))
        start = time.perf_counter()
        _, report = pack_dataset(fitting, max_length)
        seconds = time.perf_counter() - start
        results["packing"][f"max_length={max_length}"] = {
            "samples": report.samples,
            "longer_than_max_length_left_out": len(encoded) - report.samples,
            "rows": report.rows,
            "efficiency": round(report.efficiency, 4),
            "seconds": round(seconds, 2),
        }
        print(f"{report} in {seconds:.2f} s")
    out = Path(opts.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}")


def _encode(rows: Any, template: Any, num_proc: int) -> tuple[Any, dict[str, Any]]:
    """The encoded rows, and the seconds, rows/s, CPU seconds and load average around it."""
    import os

    from tunekite.data.encode import encode_dataset

    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()
    encoded, _ = encode_dataset(rows, template, num_proc=num_proc)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return encoded, {
        "seconds": round(seconds, 2),
        "rows_per_s": round(len(rows) / seconds),
        "cpu_seconds_this_process": round(cpu, 2),
        "load_average": [round(load, 2), round(os.getloadavg()[0], 2)],
    }


def _tokenizer_threads() -> str:
    """How many threads the Rust tokenizer may batch over in this process."""
    import os

    if os.environ.get("TOKENIZERS_PARALLELISM", "true").lower() in ("0", "false", "off", "no"):
        return "1 (TOKENIZERS_PARALLELISM off)"
    return os.environ.get("RAYON_NUM_THREADS") or f"{_cpus()} (rayon, one per CPU)"


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    main()
