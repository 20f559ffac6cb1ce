"""vLLM plugin throughput against vLLM used directly, on SmolLM2-135M-Instruct.

64 chat prompts x up to 64 new tokens, greedy, bf16, from the vllm environment
(`make vllm-env`; `make bench` runs this only when it exists). One `vllm.LLM` serves both
sides (two engines would not fit the memory of a small machine): "direct" renders the
prompts with the tokenizer's chat template and calls `LLM.generate` with `TokensPrompt`s and
`SamplingParams`, as a vLLM user would; "plugin" answers the same conversations as
`ChatRequest`s through `VllmEngine.infer`. Both runs are timed alternately, best of
`--repeats`, after one warm-up each; both get the same prompt ids (checked). Target
(issue 5): the plugin within 10 % of direct.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

# This file is named vllm.py: keep its folder off sys.path so `import vllm` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

TOPICS = (
    "kites",
    "rivers",
    "prime numbers",
    "the moon",
    "bread",
    "bicycles",
    "volcanoes",
    "chess",
    "owls",
    "glaciers",
    "jazz",
    "tea",
    "bridges",
    "comets",
    "coral reefs",
    "clocks",
)
QUESTIONS = (
    "Tell me about {}.",
    "Write a short poem about {}.",
    "Give three facts about {}.",
    "Why do people like {}?",
)


def conversations(count: int) -> list[list[dict[str, str]]]:
    return [
        [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)].format(TOPICS[i % len(TOPICS)])}]
        for i in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench/results/vllm.json")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max_tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--dtype", default="bfloat16")
    options = parser.parse_args()

    import vllm
    from transformers import AutoTokenizer
    from vllm import SamplingParams

    from tunekite.api import (
        ChatRequest,
        ModelArguments,
        TemplateArguments,
        build_template,
        get_host,
        model_folder,
    )

    model = "smollm2-135m-instruct"
    folder = model_folder(ModelArguments(model=model), host=get_host())
    tokenizer = AutoTokenizer.from_pretrained(folder)
    template = build_template(
        tokenizer, TemplateArguments(), model, quiet=True, host=get_host()
    )  # the model's own
    spec = get_host().registry("engines").get("vllm")
    started = time.perf_counter()
    engine = spec.load()(
        folder, tokenizer, template, spec.args(max_model_len=2048), torch_dtype=options.dtype
    )
    start_s = time.perf_counter() - started
    chats = conversations(options.prompts)
    requests = [ChatRequest(messages=c, temperature=0, max_tokens=options.max_tokens) for c in chats]
    params = SamplingParams(temperature=0, max_tokens=options.max_tokens)

    def chat_template_ids() -> list[list[int]]:
        return [
            tokenizer.apply_chat_template(c, add_generation_prompt=True, tokenize=True, return_dict=False)
            for c in chats
        ]

    # Both sides must do the same work: the plugin's prompts (its template) are the ids the
    # tokenizer's chat template gives, default system prompt included.
    same_prompts = chat_template_ids() == [template.prompt_ids(c) for c in chats]
    if not same_prompts:
        raise SystemExit("the plugin's prompts differ from the chat template's: an unfair comparison")

    def direct() -> int:
        prompts = [{"prompt_token_ids": ids} for ids in chat_template_ids()]
        outputs = engine.llm.generate(prompts, params, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs)

    def plugin() -> int:
        return sum(r.completion_tokens for r in engine.infer(requests))

    runs: dict[str, list[dict[str, float]]] = {"direct": [], "plugin": []}
    for warm_up in (direct, plugin):
        warm_up()
    for _ in range(options.repeats):
        for name, fn in (("direct", direct), ("plugin", plugin)):
            began = time.perf_counter()
            tokens = fn()
            seconds = time.perf_counter() - began
            runs[name].append({"tokens": tokens, "seconds": seconds, "tokens_per_s": tokens / seconds})
    best = {name: max(r["tokens_per_s"] for r in results) for name, results in runs.items()}
    result = {
        "benchmark": "vllm plugin vs vllm direct",
        "model": "smollm2-135m-instruct",
        "dtype": options.dtype,
        "prompts": options.prompts,
        "max_tokens": options.max_tokens,
        "greedy": True,
        "same_prompt_ids": same_prompts,
        "vllm_version": vllm.__version__,
        "machine": platform.machine(),
        "engine_start_s": round(start_s, 1),
        "direct_tokens_per_s": round(best["direct"], 1),
        "plugin_tokens_per_s": round(best["plugin"], 1),
        "plugin_over_direct": round(best["plugin"] / best["direct"], 3),
        "target": "plugin >= 0.9 x direct",
        "meets_target": best["plugin"] >= 0.9 * best["direct"],
        "runs": runs,
    }
    Path(options.output).parent.mkdir(parents=True, exist_ok=True)
    Path(options.output).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    engine.close()


if __name__ == "__main__":  # vLLM spawns worker processes that re-import this module
    main()
