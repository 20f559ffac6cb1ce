"""`tk run sample` on SmolLM2-135M-Instruct and the bundled `arithmetic:small` prompts
(single-digit sums, each opening with one worked example), scored by the `accuracy` reward.

- greedy: one completion per prompt at temperature 0; accuracy = share of prompts whose
  completion the accuracy reward accepts (`--orm_model accuracy` keeps only those).
- best-of-N, in the two-step mode: step one samples N completions per prompt at the
  sampling temperature without rewards (every completion a row), step two scores that
  file with `--sampler_engine no --cache_files ... --orm_model accuracy --n_best_to_keep 1`
  and keeps the best; accuracy = share of prompts with a kept (correct) best. The mean
  accuracy of single samples is the accuracy reward averaged over step one's completions.
- MCTS on a few prompts (`--sampler_type mcts --orm_model accuracy`): per prompt the
  iterations, why it stopped, the tree's size and depth, and whether the best answer is
  right; the tree is in the output file's `monte_carlo_tree` column.

Every run goes through `python -m tunekite run sample` in its own process; the results
file records the settings, the accuracies and the seconds each step took.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MODEL = "smollm2-135m-instruct"
DATASET = "arithmetic:small"


def tk_sample(work: Path, name: str, *extra: str) -> tuple[list[dict[str, Any]], float]:
    """One `tk run sample` into `work/name.jsonl`: its rows and wall seconds."""
    argv = [
        sys.executable, "-m", "tunekite", "run", "sample", "--model", MODEL,
        "--output_dir", str(work), "--output_file", f"{name}.jsonl", "--override_exist_file", "true", *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    seconds = time.perf_counter() - started
    lines = (work / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], seconds


def accuracy_of(rows: list[dict[str, Any]]) -> list[float]:
    """The accuracy reward (tunekite-math-rewards, through the registry) of each row's reply."""
    from tunekite.api import registry

    reward = registry("rewards").get("accuracy").load()(None)
    return reward([r["messages"][-1]["content"] for r in rows], solution=[r["solution"] for r in rows])


def tree_size(node: dict[str, Any]) -> tuple[int, int]:
    """(nodes, deepest depth) of a monte_carlo_tree."""
    sizes = [tree_size(child) for child in node["children"]]
    return 1 + sum(s[0] for s in sizes), max([s[1] for s in sizes], default=node["depth"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="bench/results/sample.json")
    parser.add_argument("--prompts", type=int, default=100, help="first N prompts of arithmetic:small")
    parser.add_argument("--n", type=int, default=8, help="completions per prompt for best-of-N")
    parser.add_argument("--temperature", type=float, default=1.0, help="sampling temperature")
    parser.add_argument("--max_new_tokens", type=int, default=48)
    parser.add_argument("--mcts_prompts", type=int, default=3)
    parser.add_argument("--work", default=None, help="sampled files' folder; default: a new temporary one")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-sample-"))
    work.mkdir(parents=True, exist_ok=True)
    common = [
        "--dataset", DATASET, "--torch_dtype", "bfloat16", "--max_new_tokens", str(args.max_new_tokens),
        "--num_sampling_per_gpu_batches", "1", "--max_batch_size", "64",
    ]  # fmt: skip
    prompts = ["--num_sampling_per_gpu_batch_size", str(args.prompts)]

    greedy, greedy_s = tk_sample(
        work, "greedy", *common, *prompts, "--temperature", "0", "--num_return_sequences", "1",
        "--orm_model", "accuracy", "--n_best_to_keep", "1",
    )  # fmt: skip
    sampled, sampled_s = tk_sample(
        work, "sampled", *common, *prompts, "--temperature", str(args.temperature),
        "--num_return_sequences", str(args.n),
    )  # fmt: skip
    best, best_s = tk_sample(
        work, "best", *common, *prompts, "--sampler_engine", "no",
        "--cache_files", str(work / "sampled.jsonl"), "--orm_model", "accuracy", "--n_best_to_keep", "1",
    )  # fmt: skip
    single = accuracy_of(sampled)
    assert all(a == 1.0 for a in accuracy_of(best)), "a kept best-of-N row the accuracy reward rejects"

    mcts, mcts_s = tk_sample(
        work, "mcts", *common, "--num_sampling_per_gpu_batch_size", str(args.mcts_prompts),
        "--sampler_type", "mcts", "--orm_model", "accuracy", "--temperature", str(args.temperature),
        "--num_return_sequences", "4", "--max_iterations", "6", "--rollout_start_depth", "1",
        "--rollout_depth", "3",
    )  # fmt: skip
    searches = []
    for row in mcts:
        nodes, depth = tree_size(json.loads(row["monte_carlo_tree"]))
        answered = row["messages"][-1]["role"] == "assistant"
        searches.append({
            "question": row["messages"][-2 if answered else -1]["content"][-60:],
            "iterations": row["iterations"], "stop_reason": row["stop_reason"], "tree_nodes": nodes,
            "tree_depth": depth, "best_correct": bool(answered and row.get("orm_score", 0) > 0.9),
        })  # fmt: skip

    results = {
        "model": MODEL, "dataset": DATASET, "prompts": args.prompts, "n": args.n,
        "temperature": args.temperature, "max_new_tokens": args.max_new_tokens, "torch_dtype": "bfloat16",
        "greedy_accuracy": len({r["id"] for r in greedy}) / args.prompts,
        "best_of_n_accuracy": len({r["id"] for r in best}) / args.prompts,
        "single_sample_accuracy": sum(single) / len(single),
        "seconds": {"greedy": round(greedy_s, 1), "sample": round(sampled_s, 1), "score": round(best_s, 1),
                    "mcts": round(mcts_s, 1)},
        "mcts": searches,
        "note": "2 shared CPU cores; seconds include start-up and model load",
    }  # fmt: skip
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
