"""Inference throughput on SmolLM2-135M: the pt engine alone and behind `tk run deploy`.

64 prompts x 64 new tokens, greedy (the issue's setting). The pt engine answers them one
at a time and then `--max_batch_size` at a time (target: batched >= 4x batch 1); then the
server, started as `tk run deploy` starts it, answers them for 32 concurrent streaming
clients (each sends its prompts one after another), and the results record its
throughput and the p50/p99 time to first token. The model goes through core's loader
(the GGUF is converted once and cached). Timings on a shared machine are noisy: the
results record the load average before each phase. The peers of `make bench-peers`
answer the same prompts at the same batch and dtype through their own command lines
(`swift infer`, LLaMA-Factory's `do_predict`), and the results record the batched pt
engine's tokens/s over each.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from peers import infer_peers
from peers.envs import PEERS, available

TOPICS = [
    "a lighthouse keeper",
    "the first city on Mars",
    "a cat who learns to read",
    "a storm at sea",
    "an old clockmaker",
    "a forgotten library",
    "a robot gardener",
    "the last dragon",
]
ASKS = [
    "Write a long story about {}.",
    "Describe {} in great detail.",
    "Tell me everything you know about {}, step by step.",
    "Write a poem of many verses about {}.",
    "Explain to a child what life is like for {}.",
    "Write a diary entry by {}, with many details.",
    "Give a long list of facts about {}.",
    "Write a dialogue between two people about {}.",
]


def prompts(count: int) -> list[str]:
    return [ASKS[i % len(ASKS)].format(TOPICS[(i // len(ASKS)) % len(TOPICS)]) for i in range(count)]


def deploy_args(model: str, dtype: str, port: int, batch: int) -> list[str]:
    return [
        *("--model", model, "--torch_dtype", dtype, "--max_batch_size", str(batch)),
        *("--host", "127.0.0.1", "--port", str(port), "--verbose", "false", "--log_interval", "0"),
    ]


def bench_engine(run: Any, texts: list[str], new_tokens: int, batch_sizes: list[int]) -> dict[str, Any]:
    """Tokens/s of the pt engine answering every prompt at each batch size."""
    from tunekite.engines.protocol import ChatRequest
    from tunekite.engines.pt import PtEngine
    from tunekite.tasks.loading import load_for_inference, with_checkpoint_args

    model, tokenizer, template = load_for_inference(with_checkpoint_args(run))
    requests = [
        ChatRequest(messages=[{"role": "user", "content": t}], max_tokens=new_tokens, temperature=0)
        for t in texts
    ]
    PtEngine(model, tokenizer, template).infer(requests[:1])  # warm-up
    results = {}
    for size in batch_sizes:
        load = os.getloadavg()[0]
        start = time.perf_counter()
        responses = PtEngine(model, tokenizer, template, max_batch_size=size).infer(requests)
        seconds = time.perf_counter() - start
        tokens = sum(r.completion_tokens for r in responses)
        results[f"batch_{size}"] = {
            "seconds": round(seconds, 2),
            "completion_tokens": tokens,
            "tokens_per_s": round(tokens / seconds, 1),
            "load_average": load,
        }
        print(
            f"pt max_batch_size {size}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.1f} tokens/s"
        )
    return results


async def stream_one(http: Any, url: str, model: str, text: str, new_tokens: int) -> tuple[float, int]:
    """(time to first token, completion tokens) of one streamed chat completion."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": text}],
        "max_tokens": new_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    start, first, tokens = time.perf_counter(), None, 0
    async with http.stream("POST", url, json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            chunk = json.loads(line[len("data: ") :])
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
            elif first is None and chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - start
    return (first if first is not None else time.perf_counter() - start), tokens


def bench_server(run: Any, texts: list[str], new_tokens: int, clients: int) -> dict[str, Any]:
    """Throughput and time to first token of the server under `clients` concurrent streams."""
    import httpx

    from tunekite.tasks.deploy import build_server

    server = build_server(run)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.1)
    url = f"http://127.0.0.1:{run.port}/v1/chat/completions"
    model = Path(run.model).name
    queue = list(texts)

    async def client(http: Any) -> list[tuple[float, int]]:
        done = []
        while queue:
            done.append(await stream_one(http, url, model, queue.pop(0), new_tokens))
        return done

    async def main() -> list[tuple[float, int]]:
        limits = httpx.Limits(max_connections=clients)
        async with httpx.AsyncClient(timeout=600, limits=limits) as http:
            await stream_one(http, url, model, texts[0], 4)  # warm-up
            per_client = await asyncio.gather(*(client(http) for _ in range(clients)))
        return [result for results in per_client for result in results]

    load = os.getloadavg()[0]
    start = time.perf_counter()
    results = asyncio.run(main())
    seconds = time.perf_counter() - start
    server.should_exit = True
    thread.join(timeout=30)
    ttft = sorted(r[0] for r in results)
    tokens = sum(r[1] for r in results)
    summary = {
        "clients": clients,
        "requests": len(results),
        "max_batch_size": run.max_batch_size,
        "seconds": round(seconds, 2),
        "completion_tokens": tokens,
        "tokens_per_s": round(tokens / seconds, 1),
        "ttft_p50_s": round(statistics.median(ttft), 3),
        "ttft_p99_s": round(ttft[min(len(ttft) - 1, round(0.99 * (len(ttft) - 1)))], 3),
        "load_average": load,
    }
    print(f"server: {summary}")
    return summary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    from tunekite.api import resolve

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=Path("bench/results/serving.json"))
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--torch_dtype", default="bfloat16", help="bfloat16 is ~5x float32 on this CPU")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max_new_tokens", type=int, default=64)
    parser.add_argument("--max_batch_size", type=int, default=16)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--peers", nargs="*", default=[p.name for p in PEERS], help="peers to run, or none")
    parser.add_argument("--work", type=Path, default=Path("output/bench-serving"))
    args = parser.parse_args()
    peers = available(args.peers)

    texts = prompts(args.prompts)
    run, _ = resolve("deploy", deploy_args(args.model, args.torch_dtype, free_port(), args.max_batch_size))
    engine = bench_engine(run, texts, args.max_new_tokens, [1, args.max_batch_size])
    batched = engine[f"batch_{args.max_batch_size}"]["tokens_per_s"]
    speedup = batched / engine["batch_1"]["tokens_per_s"]
    shape = (texts, args.max_new_tokens, args.max_batch_size, args.torch_dtype)
    peer_results = infer_peers.compare(peers, *shape, batched, args.work) if peers else {}
    results = {
        "model": args.model,
        "torch_dtype": args.torch_dtype,
        "prompts": args.prompts,
        "max_new_tokens": args.max_new_tokens,
        "cpu_count": os.cpu_count(),
        "pt_engine": {**engine, "batched_speedup": round(speedup, 2), "target_speedup": 4.0},
        "server": bench_server(run, texts, args.max_new_tokens, args.clients),
        "peers": peer_results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"batched speedup {speedup:.2f}x (target 4x); results: {args.output}")


if __name__ == "__main__":
    main()
